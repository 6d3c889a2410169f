// A small service map: nodes on a circle, one arrow per edge (red when it dropped flows).
import { Text } from "@mantine/core";
import type { ServiceMap as Map } from "../api/types";
import { useI18n } from "../i18n";

const SIZE = 360;
const RADIUS = 130;
/** Room left and right of the circle for the labels of its leftmost and rightmost nodes. */
const LABEL_ROOM = 70;

export function ServiceMap({ map }: { map: Map }) {
  const { t } = useI18n();
  if (map.nodes.length === 0) return <Text c="dimmed">{t("network.mapEmpty")}</Text>;
  const center = SIZE / 2;
  const position = new globalThis.Map<string, { x: number; y: number }>();
  map.nodes.forEach((node, index) => {
    const angle = (2 * Math.PI * index) / map.nodes.length - Math.PI / 2;
    position.set(node.id, { x: center + RADIUS * Math.cos(angle), y: center + RADIUS * Math.sin(angle) });
  });
  return (
    <svg
      viewBox={`${-LABEL_ROOM} 0 ${SIZE + 2 * LABEL_ROOM} ${SIZE}`}
      width="100%"
      style={{ maxWidth: SIZE + 2 * LABEL_ROOM }}
      role="img"
      aria-label={t("network.map")}
      data-testid="service-map"
    >
      <defs>
        <marker id="arrow" viewBox="0 0 10 10" refX="18" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse">
          <path d="M 0 0 L 10 5 L 0 10 z" fill="#868e96" />
        </marker>
      </defs>
      {map.edges.map((edge) => {
        const from = position.get(edge.source);
        const to = position.get(edge.destination);
        if (!from || !to) return null;
        return (
          <line
            key={`${edge.source}->${edge.destination}`}
            x1={from.x}
            y1={from.y}
            x2={to.x}
            y2={to.y}
            stroke={edge.dropped > 0 ? "#fa5252" : "#868e96"}
            strokeWidth={Math.min(6, 1 + Math.log10(1 + edge.flows))}
            markerEnd="url(#arrow)"
          >
            <title>{`${edge.source} → ${edge.destination}: ${edge.flows} (${edge.ports.join(", ")})`}</title>
          </line>
        );
      })}
      {map.nodes.map((node) => {
        const p = position.get(node.id);
        if (!p) return null;
        return (
          <g key={node.id}>
            <circle cx={p.x} cy={p.y} r={10} fill={node.kind === "component" ? "#228be6" : "#adb5bd"} />
            <text x={p.x} y={p.y + 24} textAnchor="middle" fontSize={11}>
              {node.id}
            </text>
          </g>
        );
      })}
    </svg>
  );
}
