// A record's JSON data (process_specific_data, inspection results) as label/value rows; nested
// values are shown as compact JSON.
import { Table } from "@mantine/core";

function show(value: unknown): string {
  if (value === null || value === undefined) return "–";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export function DataFields({ data, testId }: { data: Record<string, unknown>; testId?: string }) {
  const entries = Object.entries(data);
  if (entries.length === 0) return null;
  return (
    <Table withTableBorder={false} verticalSpacing={2} fz="sm" maw={520} data-testid={testId}>
      <Table.Tbody>
        {entries.map(([key, value]) => (
          <Table.Tr key={key}>
            <Table.Td c="dimmed" w="45%">
              {key}
            </Table.Td>
            <Table.Td className="mono">{show(value)}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}
