from orders_worker.worker import main

if __name__ == "__main__":
    main()
