"""_manifest"""
