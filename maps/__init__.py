"""Map views and spatial statistics: hotspot detection on plain arrays, Folium map builders."""
