from medae.cli import main

main()
