"""Operations across the services: the ``crm`` CLI and the Kafka access of each service.

The one package allowed to import every service (services never import each other, and
``crm_shared`` imports none; import-linter checks both and that no service imports this).
"""
