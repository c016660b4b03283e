../overlay_host.yaml
