"""_narrowing"""
