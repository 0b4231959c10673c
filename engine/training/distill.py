"""Two-stage knowledge distillation of several single-degradation teachers into one student.

After Chen et al., CVPR 2022, "Learning Multiple Adverse Weather Removal via Two-stage
Knowledge Learning and Multi-contrastive Regularization":

- **Stage 1, knowledge collation** (steps ``< distill.stage2_step``). Batches mix all
  degradation kinds (``DegradedBatch.kind`` labels each sample). Every frozen teacher
  restores the samples of its own kind. Collaborative knowledge transfer (CKT): per teacher
  and feature level a projector (1x1 conv, teacher channels -> ``common_channels``) and a
  reconstructor (1x1 conv, back); per level a student projector. Loss =
  ``output_weight * L1(student out, responsible teacher out)``
  ``+ feature_weight * L1(P_s(F_s), P_t(F_t))`` ``+ recon_weight * L1(R_t(P_t(F_t)), F_t)``
  ``+ contrast_weight * soft contrastive`` (distance to the teacher output over distance to
  the sample's degraded input, in the feature space ``phi``).
- **Stage 2, knowledge examination** (steps ``>= stage2_step``): the student alone,
  ``L1(out, clean) + contrast_weight * hard contrastive`` (distance to the clean target over
  the mean distance to every degraded input in the batch).

Weather-free samples (kind ``none``) need no teacher (:data:`CLEAN_KIND`): they teach the student to leave a
photo without weather alone.

Teachers and student share ``model.arch`` (as in the paper) unless ``distill.teacher_arch`` names
the teachers' network (a grown student); teacher weights may be exported plugin weights or training
checkpoints. The CKT modules are trained with the student and
checkpointed under ``aux.``; teachers are never optimized or saved. ``contrast_weight = 0``
is the ablation switch.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from engine.core.errors import ClarityError
from engine.training.checkpoint import load_state_file
from engine.training.config import DistillConfig
from engine.training.features import contrast_extractor, forward_with_features, freeze
from engine.training.losses import hard_contrastive, soft_contrastive
from engine.training.registry import build_model
from engine.training.trainer import Trainer, network_input


CLEAN_KIND = "none"
"""Samples of this kind (the ``none`` degradation, e.g. ``mix:rain,haze,snow,none``) need no teacher: in stage 1
the student is pulled to the clean image itself, without feature or contrastive terms for them."""


class CKT(nn.Module):
    """Collaborative knowledge transfer modules: per-teacher projector/reconstructor pairs and the student projector."""

    def __init__(self, kinds: list[str], teacher_channels: list[int], student_channels: list[int], common: int) -> None:
        super().__init__()
        self.kinds = list(kinds)
        self.student_proj = nn.ModuleList(nn.Conv2d(c, common, 1) for c in student_channels)
        self.proj = nn.ModuleDict({k: nn.ModuleList(nn.Conv2d(c, common, 1) for c in teacher_channels) for k in kinds})
        self.recon = nn.ModuleDict({k: nn.ModuleList(nn.Conv2d(common, c, 1) for c in teacher_channels) for k in kinds})


class Distiller(Trainer):
    """:class:`Trainer` with the two-stage distillation objective (config ``[distill]`` table required)."""

    @property
    def dcfg(self) -> DistillConfig:
        """The ``[distill]`` table."""
        if self.cfg.distill is None:
            raise ClarityError(f"config '{self.cfg.name}' has no [distill] table; use `clarity train` for plain training")
        return self.cfg.distill

    def stage_of(self, step: int) -> int:
        """1 before ``distill.stage2_step``, 2 from it on."""
        return 1 if step < self.dcfg.stage2_step else 2

    def build_aux(self) -> nn.Module:
        """Load and freeze the teachers, build the CKT modules and the contrastive feature extractor."""
        d = self.dcfg
        arch, args, key = (d.teacher_arch, d.teacher_args, "distill.teacher_arch") if d.teacher_arch else (
            self.cfg.model.arch, self.cfg.model.args, "model.arch")
        self.teachers: dict[str, nn.Module] = {}
        for kind, path in sorted(d.teachers.items()):
            if not Path(path).is_file():
                raise ClarityError(f"teacher '{kind}' weights {path} do not exist; train the teacher first or fix distill.teachers")
            net = build_model(arch, args)
            try:
                net.load_state_dict(load_state_file(path))
            except RuntimeError as exc:
                raise ClarityError(
                    f"teacher '{kind}' weights {path} do not fit {key} '{arch}' (args {dict(args)}); "
                    f"set distill.teacher_arch / teacher_args to the teachers' network: {exc}"
                ) from exc
            net = net.to(self.device)
            self.teachers[kind] = freeze(net.to(memory_format=torch.channels_last) if self.channels_last else net)
        channels = 1 if self.cfg.data.gray else 3
        probe = torch.zeros(1, channels, self.cfg.data.patch, self.cfg.data.patch, device=self.device)
        with torch.no_grad():
            was = self.net.training
            self.net.eval()
            _, fs = forward_with_features(self.net, probe, d.feature_layers)
            self.net.train(was)
            _, ft = forward_with_features(next(iter(self.teachers.values())), probe, d.feature_layers)
        if not fs:
            raise ClarityError("the student exposes no features; set distill.feature_layers")
        student_sizes, teacher_sizes = [tuple(f.shape[2:]) for f in fs], [tuple(f.shape[2:]) for f in ft]
        if student_sizes != teacher_sizes:
            raise ClarityError(
                f"student and teacher features do not line up (sizes {student_sizes} vs {teacher_sizes}); "
                "CKT needs the same feature levels at the same resolutions"
            )
        kinds = sorted(self.teachers)
        ckt = CKT(kinds, [f.shape[1] for f in ft], [f.shape[1] for f in fs], d.common_channels)
        first = self.teachers[kinds[0]]
        self.phi = contrast_extractor(d.contrast_features, teacher=first, layers=d.feature_layers, device=self.device)
        if d.contrast_features.startswith("encoder:"):
            try:
                self.phi(probe)
            except RuntimeError as exc:
                raise ClarityError(
                    f"contrast encoder {d.contrast_features[8:]} does not fit {channels}-channel images ({exc}); "
                    "train one on this data with `clarity distill --config CFG --train-encoder PATH`"
                ) from exc
        return ckt

    def compute_loss(self, step: int, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:  # type: ignore[no-untyped-def]
        """The stage's objective (see the module docstring); returns the total and its terms."""
        d = self.dcfg
        x = network_input(self.spec, batch)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        extra = [batch.sigma.to(x.dtype).view(-1, 1, 1, 1)] if self.spec.noise_map and batch.sigma is not None else []
        with self.train_autocast():
            out, feats = forward_with_features(self.net, x, d.feature_layers, *extra)
        out = out.float()
        negatives = batch.degraded if batch.degraded.shape == out.shape else (batch.upsampled if batch.upsampled is not None else out.detach())
        terms: dict[str, torch.Tensor] = {}
        if self.stage_of(step) == 2:
            terms["l1_gt"] = F.l1_loss(out, batch.clean.float())
            total = terms["l1_gt"]
            if d.contrast_weight > 0:
                terms["hard_cr"] = hard_contrastive(self.phi, out, batch.clean, negatives)
                total = total + d.contrast_weight * terms["hard_cr"]
            return total, terms
        ckt: CKT = self.aux  # type: ignore[assignment]
        kinds = list(batch.kind)
        n = len(kinds)
        teacher_out = torch.empty_like(out)
        l_out = out.new_zeros(())
        l_feat = out.new_zeros(())
        l_rec = out.new_zeros(())
        for kind in sorted(set(kinds)):
            idx = torch.tensor([i for i, k in enumerate(kinds) if k == kind], device=self.device)
            share = len(idx) / n
            if kind == CLEAN_KIND and kind not in self.teachers:
                # weather-free samples: the teacher is the identity (the output should be the photo itself);
                # there are no teacher features to align, and no contrast (positive = negative)
                teacher_out[idx] = batch.clean[idx].float()
                l_out = l_out + share * F.l1_loss(out[idx], teacher_out[idx])
                continue
            if kind not in self.teachers:
                raise ClarityError(
                    f"the batch has '{kind}' samples but distill.teachers has no '{kind}' teacher "
                    f"(teachers: {', '.join(sorted(self.teachers))}); add one or change data.degradation"
                )
            with torch.no_grad(), self.train_autocast():
                t_out, t_feats = forward_with_features(self.teachers[kind], x[idx], d.feature_layers, *[e[idx] for e in extra])
            t_out = t_out.float()
            teacher_out[idx] = t_out
            l_out = l_out + share * F.l1_loss(out[idx], t_out)
            for level, (fs, ft) in enumerate(zip(feats, t_feats)):
                ft = ft.float()
                p_t = ckt.proj[kind][level](ft)
                p_s = ckt.student_proj[level](fs[idx].float())
                l_feat = l_feat + share * F.l1_loss(p_s, p_t)
                l_rec = l_rec + share * F.l1_loss(ckt.recon[kind][level](p_t), ft)
        terms.update(kd_out=l_out, kd_feat=l_feat, ckt_rec=l_rec)
        total = d.output_weight * l_out + d.feature_weight * l_feat + d.recon_weight * l_rec
        contrasted = [i for i, k in enumerate(kinds) if k in self.teachers]
        if d.contrast_weight > 0 and contrasted:
            keep = torch.tensor(contrasted, device=self.device)
            terms["soft_cr"] = soft_contrastive(self.phi, out[keep], teacher_out[keep], negatives[keep])
            total = total + d.contrast_weight * terms["soft_cr"]
        return total, terms
