"""_signing"""
