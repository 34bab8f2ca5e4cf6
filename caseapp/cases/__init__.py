"""Intake, cases, joint investigation, disposition and statistics."""
