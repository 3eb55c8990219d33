"""Device registry: the inventory of sites, locations, trunks, security centers and devices."""
