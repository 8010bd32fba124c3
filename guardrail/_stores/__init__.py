"""_stores"""
