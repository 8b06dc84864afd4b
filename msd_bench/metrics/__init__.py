"""The metric suite (issue 5). See docs/metrics.md.

Modules (import what you need; nothing heavy is imported here):

- :mod:`.base` — ``MetricValue``, the metric registry, seeded bootstrap helpers;
- :mod:`.representation` — MIG, modularity, IRS, I_m, Gaussian TC, SAP, explicitness, DCI;
- :mod:`.codes` — ``score_codes``: every representation metric with intervals;
- :mod:`.exploration` — latent exploration (channel maps), fast ``hist`` and reference ``gbt``;
- :mod:`.judged` — accuracy, inception score, entropies, chance level, consistency;
- :mod:`.interventions` — generation, static <-> dynamic swap, multi-factor swap / sample (msd-bench's scores);
- :mod:`.msd` — the MSD benchmark's and C-DSVAE's published scores (groups ``msd`` and ``cdsvae``);
- :mod:`.aggregates` — registry entries of the suite's headline (mean over factors) scores;
- :mod:`.reconstruction` — MSE, PSNR, SSIM, temporal consistency, judge accuracy on reconstructions.
"""

from .base import MetricInfo, MetricValue, get_info, list_metrics

__all__ = ["MetricInfo", "MetricValue", "get_info", "list_metrics"]
