../mini.yaml --overlay ../overlays/bad_patch.yaml
