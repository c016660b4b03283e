../mini.yaml --overlay ../overlays/bad_meta.yaml --overlay ../overlays/missing.yaml
