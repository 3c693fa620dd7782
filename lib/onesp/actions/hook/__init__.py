"""OpenNebula hooks (``hooks/storpool/*``): run by oned's hook manager on the front-end."""
