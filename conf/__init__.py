# Makes conf/ importable as `aqnet.conf` (see setup.py) so Hydra can search it as pkg://aqnet.conf.
