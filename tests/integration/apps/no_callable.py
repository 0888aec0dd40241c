"""Imports fine but defines neither `application` nor `app`."""

handler = None
