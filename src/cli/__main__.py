from src.cli.main import main

main()
