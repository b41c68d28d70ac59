"""unetkit.viz"""
