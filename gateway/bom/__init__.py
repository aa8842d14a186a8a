"""AI bills of materials: a version as a CycloneDX 1.6 ML-BOM or an SPDX 3.0.1
AI-profile document (``ModelVersion.bom``, ``GET /bom/...``, ``modelgate bom``).

``facts`` gathers what a BOM says about a version; each format module is a pure
function of those facts; ``service`` finds the version a principal asked for."""
