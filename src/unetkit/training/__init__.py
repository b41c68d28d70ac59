"""unetkit.training"""
