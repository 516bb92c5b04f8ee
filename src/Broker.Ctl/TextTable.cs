using System.Globalization;
using System.Text.Json;

namespace Broker.Ctl;

/// <summary>Readable output: left-aligned columns padded to the widest cell, and <c>key: value</c> lists.</summary>
internal static class TextTable
{
    /// <summary>A column: its header and how a row (one JSON object) shows in it.</summary>
    public sealed record Column(string Header, Func<JsonElement, string> Cell);

    /// <summary>A column showing one property of each row.</summary>
    public static Column Field(string header, string property) => new(header, row => Text(row, property));

    public static void Write(TextWriter output, IReadOnlyList<Column> columns, JsonElement rows)
    {
        var cells = new List<string[]> { columns.Select(c => c.Header).ToArray() };
        foreach (var row in rows.EnumerateArray())
            cells.Add(columns.Select(c => c.Cell(row)).ToArray());
        var widths = new int[columns.Count];
        foreach (var line in cells)
        {
            for (var i = 0; i < line.Length; i++)
                widths[i] = Math.Max(widths[i], line[i].Length);
        }
        foreach (var line in cells)
        {
            var text = string.Join("  ", line.Select((cell, i) => i == line.Length - 1 ? cell : cell.PadRight(widths[i])));
            output.WriteLine(text.TrimEnd());
        }
    }

    /// <summary>Every property of an object as <c>key: value</c>, keys aligned.</summary>
    public static void WriteObject(TextWriter output, JsonElement item)
    {
        var properties = item.EnumerateObject().ToList();
        var width = properties.Count == 0 ? 0 : properties.Max(p => p.Name.Length) + 1;
        foreach (var property in properties)
            output.WriteLine((property.Name + ":").PadRight(width) + " " + Text(property.Value));
    }

    /// <summary>A property as text; "-" when missing or null.</summary>
    public static string Text(JsonElement row, string property) =>
        row.ValueKind == JsonValueKind.Object && row.TryGetProperty(property, out var value) ? Text(value) : "-";

    public static string Text(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString() ?? "",
        JsonValueKind.Number => value.GetRawText(),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        JsonValueKind.Null or JsonValueKind.Undefined => "-",
        _ => value.GetRawText(),
    };

    /// <summary>"1 client" / "3 clients", with a hint when the page is not the last.</summary>
    public static string Count(JsonElement answer, string noun)
    {
        var shown = answer.GetProperty("data").GetArrayLength();
        if (!answer.TryGetProperty("meta", out var meta))
            return Plural(shown, noun);
        var total = meta.GetProperty("count").GetInt32();
        var text = Plural(total, noun);
        if (shown != total)
        {
            var page = meta.GetProperty("page").GetInt32();
            text += string.Create(CultureInfo.InvariantCulture, $", {shown} shown (page {page}{(meta.GetProperty("hasnext").GetBoolean() ? ", more with --page " + (page + 1) : "")})");
        }
        return text;
    }

    private static string Plural(int n, string noun) =>
        string.Create(CultureInfo.InvariantCulture, $"{n} {noun}{(n == 1 ? "" : "s")}");
}
