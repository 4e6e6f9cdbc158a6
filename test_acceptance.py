"""Binds every scenario of features/ to pytest. Step definitions live in steps/."""

from pytest_bdd import scenarios

scenarios(".")
