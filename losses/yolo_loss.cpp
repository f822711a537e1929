#include "losses/yolo_loss.h"

#include <cmath>

namespace qat::detect {

torch::Tensor build_yolo_targets(const std::vector<std::vector<Box>>& boxes, const YoloLayout& L) {
  const int64_t n = static_cast<int64_t>(boxes.size()), S = L.grid;
  torch::Tensor t = torch::zeros({n, S, S, 5 + L.classes});
  auto a = t.accessor<float, 4>();
  for (int64_t i = 0; i < n; ++i) {
    for (const auto& b : boxes[static_cast<size_t>(i)]) {
      const int64_t col =
          std::min<int64_t>(S - 1, static_cast<int64_t>(b.cx * static_cast<float>(S)));
      const int64_t row =
          std::min<int64_t>(S - 1, static_cast<int64_t>(b.cy * static_cast<float>(S)));
      // One object per cell: keep the largest.
      if (a[i][row][col][0] > 0 && a[i][row][col][3] * a[i][row][col][4] >= b.w * b.h) continue;
      a[i][row][col][0] = 1;
      a[i][row][col][1] = b.cx * static_cast<float>(S) - static_cast<float>(col);
      a[i][row][col][2] = b.cy * static_cast<float>(S) - static_cast<float>(row);
      a[i][row][col][3] = b.w;
      a[i][row][col][4] = b.h;
      for (int64_t c = 0; c < L.classes; ++c) a[i][row][col][5 + c] = c == b.cls ? 1.0f : 0.0f;
    }
  }
  return t;
}

namespace {

// IoU of [.., 4] boxes (cx, cy, w, h) broadcast against each other.
torch::Tensor iou_tensor(const torch::Tensor& a, const torch::Tensor& b) {
  const auto ax0 = a.select(-1, 0) - a.select(-1, 2) / 2,
             ax1 = a.select(-1, 0) + a.select(-1, 2) / 2;
  const auto ay0 = a.select(-1, 1) - a.select(-1, 3) / 2,
             ay1 = a.select(-1, 1) + a.select(-1, 3) / 2;
  const auto bx0 = b.select(-1, 0) - b.select(-1, 2) / 2,
             bx1 = b.select(-1, 0) + b.select(-1, 2) / 2;
  const auto by0 = b.select(-1, 1) - b.select(-1, 3) / 2,
             by1 = b.select(-1, 1) + b.select(-1, 3) / 2;
  const auto iw = (torch::minimum(ax1, bx1) - torch::maximum(ax0, bx0)).clamp_min(0);
  const auto ih = (torch::minimum(ay1, by1) - torch::maximum(ay0, by0)).clamp_min(0);
  const auto inter = iw * ih;
  const auto uni = a.select(-1, 2) * a.select(-1, 3) + b.select(-1, 2) * b.select(-1, 3) - inter;
  return inter / uni.clamp_min(1e-9);
}

}  // namespace

YoloLoss yolo_loss(const torch::Tensor& output, const torch::Tensor& targets, const YoloLayout& L,
                   const YoloLossOptions& opt) {
  const int64_t n = output.size(0), S = L.grid, B = L.boxes;
  const torch::Tensor out = L.order == GridOrder::kCellMajor
                                ? output.reshape({n, S, S, L.per_cell()})
                                : output.reshape({n, L.per_cell(), S, S}).permute({0, 2, 3, 1});
  const torch::Tensor box = out.narrow(3, 0, B * 5).reshape({n, S, S, B, 5});
  const torch::Tensor logits = out.narrow(3, B * 5, L.classes);
  const torch::Tensor px = torch::sigmoid(box.select(4, 0)), py = torch::sigmoid(box.select(4, 1));
  const torch::Tensor psw = box.select(4, 2), psh = box.select(4, 3);
  const torch::Tensor conf = torch::sigmoid(box.select(4, 4));
  const torch::Tensor t = targets.to(output.dtype());
  const torch::Tensor obj = t.select(3, 0);  // [n, S, S]
  const torch::Tensor tx = t.select(3, 1).unsqueeze(3), ty = t.select(3, 2).unsqueeze(3);
  const torch::Tensor tw = t.select(3, 3).unsqueeze(3), th = t.select(3, 4).unsqueeze(3);

  // Responsible predictor: highest IoU with the ground truth, in image coordinates.
  torch::Tensor iou;
  {
    torch::NoGradGuard ng;
    const auto idx = torch::arange(S, output.options());
    const auto col = idx.reshape({1, 1, S, 1}), row = idx.reshape({1, S, 1, 1});
    const auto pred = torch::stack(
        {(col + px) / S, (row + py) / S, psw.clamp_min(0).pow(2), psh.clamp_min(0).pow(2)}, -1);
    const auto gt = torch::stack({(col + tx) / S, (row + ty) / S, tw, th}, -1).expand_as(pred);
    iou = iou_tensor(pred, gt);  // [n, S, S, B]
  }
  const torch::Tensor best = iou.argmax(3, true);
  const torch::Tensor resp = torch::zeros_like(iou).scatter_(3, best, 1.0) * obj.unsqueeze(3);

  YoloLoss l;
  l.coord = opt.lambda_coord *
            (resp * ((px - tx).pow(2) + (py - ty).pow(2) + (psw - tw.sqrt()).pow(2) +
                     (psh - th.sqrt()).pow(2)))
                .sum() /
            n;
  if (opt.bce_objectness) {
    // softplus(z) - y z = BCE(sigmoid(z), y), stable for large |z|.
    const torch::Tensor z = box.select(4, 4);
    const torch::Tensor bce_to_iou = torch::softplus(z) - iou.clamp_min(0) * z;
    l.object = (resp * bce_to_iou).sum() / n;
    l.no_object = opt.lambda_noobj * ((1 - resp) * torch::softplus(z)).sum() / n;
  } else {
    l.object = (resp * (conf - iou).pow(2)).sum() / n;
    l.no_object = opt.lambda_noobj * ((1 - resp) * conf.pow(2)).sum() / n;
  }
  const torch::Tensor probs = torch::softmax(logits, 3);
  torch::Tensor onehot = t.narrow(3, 5, L.classes);
  if (opt.label_smoothing > 0)
    onehot =
        onehot * (1.0 - opt.label_smoothing) + opt.label_smoothing / static_cast<double>(L.classes);
  l.cls = (obj.unsqueeze(3) * (probs - onehot).pow(2)).sum() / n;
  l.total = l.coord + l.object + l.no_object + l.cls;
  return l;
}

}  // namespace qat::detect
