from crm_ops.cli import main

main()
