// Bar charts of the overview (Chart.js, only the parts a bar chart needs).
import { BarElement, CategoryScale, Chart as ChartJS, Legend, LinearScale, Tooltip } from "chart.js";
import { Bar } from "react-chartjs-2";
import type { ProcessSummary } from "../api/types";
import { useI18n } from "../i18n";
import { formatSeconds } from "../lib/format";

ChartJS.register(CategoryScale, LinearScale, BarElement, Tooltip, Legend);

const BLUE = "#228be6";
const GRAY = "#adb5bd";
const ORANGE = "#fd7e14";

export function WipChart({ processes }: { processes: ProcessSummary[] }) {
  const { t } = useI18n();
  const labels = processes.map((p) => p.process_code);
  return (
    <div style={{ height: 220 }} role="img" aria-label={t("overview.wipChart")} data-testid="wip-chart">
      <Bar
        data={{
          labels,
          datasets: [{ label: t("overview.wip"), data: processes.map((p) => p.in_progress), backgroundColor: BLUE }],
        }}
        options={{
          maintainAspectRatio: false,
          animation: false,
          plugins: { legend: { display: false } },
          scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
        }}
      />
    </div>
  );
}

export function CycleTimeChart({ processes }: { processes: ProcessSummary[] }) {
  const { t } = useI18n();
  return (
    <div style={{ height: 220 }} role="img" aria-label={t("overview.cycleChart")} data-testid="cycle-chart">
      <Bar
        data={{
          labels: processes.map((p) => p.process_code),
          datasets: [
            {
              label: t("overview.avgCycle"),
              data: processes.map((p) => (p.avg_cycle_time === null ? null : Math.round(p.avg_cycle_time))),
              backgroundColor: processes.map((p) =>
                p.avg_cycle_time !== null && p.avg_cycle_time > p.standard_cycle_time * 1.1 ? ORANGE : BLUE,
              ),
            },
            { label: t("overview.stdCycle"), data: processes.map((p) => p.standard_cycle_time), backgroundColor: GRAY },
          ],
        }}
        options={{
          maintainAspectRatio: false,
          animation: false,
          plugins: {
            tooltip: { callbacks: { label: (item) => `${item.dataset.label ?? ""}: ${formatSeconds(item.parsed.y)}` } },
          },
          scales: { y: { beginAtZero: true, title: { display: true, text: t("overview.seconds") } } },
        }}
      />
    </div>
  );
}
