"""The offline mirror: what a site's nodes install (installs), Debian control data (debian), where the
indexes come from (indexes) and the bill of materials made of them (bom); the bundle built from it (build,
fetching through upstream), its APT indexes (apt_repo) and its signed manifest (manifest)."""
