"""Flask glue shared by every blueprint: the request's database session and acting user.

May import flask and registry; registry core never imports this package.
"""
