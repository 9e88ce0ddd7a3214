"""A job's batches: small enough for its progress to move, never above the setting."""

from crm_history.service import batch_size_for


def test_a_job_moves_in_about_ten_steps_within_the_bounds() -> None:
    assert batch_size_for(1_000, 1_000) == 100  # ten steps instead of one
    assert batch_size_for(10_000, 1_000) == 1_000
    assert batch_size_for(100_000, 1_000) == 1_000  # never above the setting
    assert batch_size_for(250, 1_000) == 100  # not below the smallest worth a transaction
    assert batch_size_for(3, 1_000) == 100
    assert batch_size_for(1_001, 1_000) == 101
    assert batch_size_for(1_000, 10) == 10  # a small setting (the crash tests) wins
