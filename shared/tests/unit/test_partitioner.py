"""Our partitioner picks the partition aiokafka's default partitioner picks."""

from __future__ import annotations

import random

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from crm_shared.kafka import murmur2, partition_for


def test_murmur2_equals_aiokafkas() -> None:
    rng = random.Random(5)
    samples = [b"", b"a", b"ab", b"abc", b"abcd", "ümlaut-ключ".encode()]
    samples += [rng.randbytes(rng.randrange(0, 80)) for _ in range(3000)]
    for data in samples:
        assert murmur2(data) == aiokafka_murmur2(data), data


def test_partition_for_equals_the_default_partitioner() -> None:
    rng = random.Random(7)
    default = DefaultPartitioner()
    for count in (1, 2, 3, 6, 12, 50):
        partitions = list(range(count))
        for _ in range(500):
            key = str(rng.random()).encode()
            assert partition_for(key, partitions) == default(key, partitions, partitions)
    assert partition_for(None, [0, 1, 2]) in {0, 1, 2}
