"""unetkit.cli"""
