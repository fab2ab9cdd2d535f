"""Delivery: a branch with one commit, pushed, and a pull request (GitHub or a local review bundle).

``deliver()`` in ``crew.delivery.deliver`` is the entry point; ``DeliveryConfig`` says where to.
Nothing heavy is imported here, so ``healcrew --help`` stays fast.
"""
