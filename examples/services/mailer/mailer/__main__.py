from mailer.app import main

main()
