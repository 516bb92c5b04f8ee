using System.Text;

namespace Broker.Configuration;

/// <summary>
/// Renders the commented .conf for options types: each key's description as comments, then
/// <c>key = default</c> in .conf syntax. The shipped etc/broker.conf starts from this text, so every key
/// an operator can set is shown with its default.
/// </summary>
internal static class ConfDocs
{
    /// <summary>
    /// One block per key, in declaration order, separated by blank lines. A key whose default is null is
    /// written commented out (<c># key = example</c>) so the file still names it but does not set it.
    /// </summary>
    public static string Render(params Type[] optionsTypes)
    {
        var text = new StringBuilder();
        foreach (var type in optionsTypes)
        {
            var defaults = Activator.CreateInstance(type)
                ?? throw new InvalidOperationException($"{type.Name} needs a public parameterless constructor.");
            foreach (var info in ConfSchema.For(type))
            {
                RenderKey(text, info.Key, info, defaults);
            }

            foreach (var map in ConfSchema.MapsFor(type))
            {
                // The map's description once, then each default entry's keys as plain keys.
                if (text.Length > 0)
                {
                    text.Append('\n');
                }

                foreach (var line in map.Description.Split('\n'))
                {
                    text.Append("## ").Append(line.TrimEnd()).Append('\n');
                }

                foreach (System.Collections.DictionaryEntry entry in (System.Collections.IDictionary)map.Property.GetValue(defaults)!)
                {
                    foreach (var field in map.Fields)
                    {
                        RenderKey(text, map.KeyOf((string)entry.Key, field), field, entry.Value!);
                    }
                }
            }

            foreach (var list in ConfSchema.ListsFor(type))
            {
                if (text.Length > 0)
                {
                    text.Append('\n');
                }

                RenderList(text, list);
            }
        }

        return text.ToString();
    }

    /// <summary>One key: its description as comments, its details, and <c>key = default</c> (commented out when the default is "not set").</summary>
    private static void RenderKey(StringBuilder text, string key, ConfKeyInfo info, object defaults)
    {
        if (text.Length > 0)
        {
            text.Append('\n');
        }

        foreach (var line in info.Description.Split('\n'))
        {
            text.Append("# ").Append(line.TrimEnd()).Append('\n');
        }

        AppendDetails(text, info);
        var value = DefaultText(info, defaults);
        if (value is null)
        {
            text.Append("# ").Append(key).Append(" = ").Append(info.Example is null ? "" : Quote(info.Example)).Append('\n');
        }
        else
        {
            text.Append(key).Append(" = ").Append(Quote(value)).Append('\n');
        }
    }

    /// <summary>
    /// A [ConfList]: its description, then each field's (<c>key.N.field: ...</c>) with its range and default; the
    /// file's own header shows examples.
    /// </summary>
    private static void RenderList(StringBuilder text, ConfListInfo list)
    {
        foreach (var line in list.Description.Split('\n'))
        {
            text.Append("# ").Append(line.TrimEnd()).Append('\n');
        }

        if (list.Value is { } plain)
        {
            // One value per entry: say how entries are numbered, and show one (commented out: none is set by default).
            text.Append("#\n# Entries ").Append(list.Key).Append(".N, N a whole number from 1, apply in ascending N.\n");
            if (plain.Example is not null)
            {
                text.Append("# ").Append(list.Key).Append(".1 = ").Append(plain.Example).Append('\n');
            }

            return;
        }

        var defaults = Activator.CreateInstance(list.ElementType)!;
        text.Append("#\n");
        foreach (var field in list.Fields)
        {
            var details = new StringBuilder();
            AppendDetails(details, field);
            var value = DefaultText(field, defaults);
            text.Append("#   ").Append(list.Key).Append(".N.").Append(field.Key).Append(": ").Append(field.Description);
            if (value is not null)
            {
                text.Append(" Default: ").Append(value.Length == 0 ? "\"\"" : value).Append('.');
            }

            foreach (var detail in details.ToString().Split('\n'))
            {
                if (detail.StartsWith("# ", StringComparison.Ordinal))
                {
                    text.Append(' ').Append(detail[2..]);
                }
            }

            text.Append('\n');
        }
    }

    /// <summary>The default of each key in .conf syntax; null where the default is "not set".</summary>
    public static IReadOnlyDictionary<string, string?> Defaults(params Type[] optionsTypes)
    {
        var result = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var type in optionsTypes)
        {
            var defaults = Activator.CreateInstance(type)!;
            foreach (var info in ConfSchema.For(type))
            {
                result[info.Key] = DefaultText(info, defaults);
            }

            foreach (var map in ConfSchema.MapsFor(type))
            {
                foreach (System.Collections.DictionaryEntry entry in (System.Collections.IDictionary)map.Property.GetValue(defaults)!)
                {
                    foreach (var field in map.Fields)
                    {
                        result[map.KeyOf((string)entry.Key, field)] = DefaultText(field, entry.Value!);
                    }
                }
            }
        }

        return result;
    }

    private static string? DefaultText(ConfKeyInfo info, object defaults) => ConfValues.Format(info, info.GetValue(defaults));

    private static void AppendDetails(StringBuilder text, ConfKeyInfo info)
    {
        var details = new List<string>();
        if (info.Kind == ConfValueKind.Enum)
        {
            details.Add($"One of: {string.Join(", ", ConfValues.EnumNames(info.ValueType))}.");
        }

        if (info.MinText is not null && info.MaxText is not null)
        {
            details.Add($"Range: {info.MinText} to {info.MaxText}.");
        }
        else if (info.MinText is not null)
        {
            details.Add($"At least {info.MinText}.");
        }
        else if (info.MaxText is not null)
        {
            details.Add($"At most {info.MaxText}.");
        }

        if (info.Example is not null)
        {
            details.Add($"Example: {info.Example}");
        }

        if (details.Count > 0)
        {
            text.Append("#\n");
            foreach (var detail in details)
            {
                text.Append("# ").Append(detail).Append('\n');
            }
        }
    }

    /// <summary>Quotes only when the parser would otherwise change the value (empty, padded, or starting with a quote).</summary>
    private static string Quote(string value) =>
        value.Length == 0 || value.Trim().Length != value.Length || value.StartsWith('"') ? $"\"{value}\"" : value;
}
