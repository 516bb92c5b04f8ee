namespace Broker.Configuration;

/// <summary>One <c>key = value</c> line of a .conf file.</summary>
internal sealed record ConfEntry(string Key, string Value, int Line);

/// <summary>
/// A parsed EMQX-4-style .conf file: <c>key.path = value</c> lines, full-line <c>#</c> comments and
/// blank lines. The value is everything after the first <c>=</c>, trimmed; one pair of surrounding
/// double quotes is removed (there are no escapes), so <c>"  padded "</c> keeps its spaces and a
/// <c>#</c> or <c>=</c> inside a value is just a character.
/// </summary>
internal sealed class ConfFile
{
    private ConfFile(string path, IReadOnlyList<ConfEntry> entries)
    {
        Path = path;
        Entries = entries;
    }

    /// <summary>The file as it was named; error messages use this spelling.</summary>
    public string Path { get; }

    /// <summary>Entries in file order; keys are unique.</summary>
    public IReadOnlyList<ConfEntry> Entries { get; }

    /// <summary>Reads and parses <paramref name="path"/>; throws <see cref="ConfigurationException"/> listing every bad line.</summary>
    public static ConfFile Parse(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigurationException([new ConfigurationError(ConfOrigin.InFile(path, 0), null, null, $"cannot read the file: {e.Message}")]);
        }

        return ParseText(path, text);
    }

    /// <summary>Parses <paramref name="text"/> as if read from <paramref name="path"/>.</summary>
    public static ConfFile ParseText(string path, string text)
    {
        var entries = new List<ConfEntry>();
        var errors = new List<ConfigurationError>();
        var seen = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var lineNumber = i + 1;
            var line = lines[i].Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var origin = ConfOrigin.InFile(path, lineNumber);
            var equals = line.IndexOf('=', StringComparison.Ordinal);
            if (equals < 0)
            {
                errors.Add(new ConfigurationError(origin, null, null, $"expected key = value, found \"{line}\""));
                continue;
            }

            var key = line[..equals].TrimEnd();
            if (!IsValidKey(key))
            {
                errors.Add(new ConfigurationError(origin, null, null,
                    $"invalid key \"{key}\": a key is words of letters, digits, '_' or '-' joined by '.', such as mqtt.max_packet_size"));
                continue;
            }

            var value = line[(equals + 1)..].TrimStart();
            if (value.StartsWith('"'))
            {
                if (value.Length < 2 || !value.EndsWith('"'))
                {
                    errors.Add(new ConfigurationError(origin, key, null, $"the value {value} has no closing quote"));
                    continue;
                }

                value = value[1..^1];
            }

            if (seen.TryGetValue(key, out var firstLine))
            {
                errors.Add(new ConfigurationError(origin, key, null, $"set twice; first set at line {firstLine}"));
                continue;
            }

            seen.Add(key, lineNumber);
            entries.Add(new ConfEntry(key, value, lineNumber));
        }

        ConfigurationException.ThrowIfAny(errors);
        return new ConfFile(path, entries);
    }

    /// <summary>Words of <c>[A-Za-z0-9_-]</c> joined by single dots; no ':' so it maps cleanly onto configuration paths.</summary>
    internal static bool IsValidKey(string key)
    {
        if (key.Length == 0)
        {
            return false;
        }

        var wordLength = 0;
        foreach (var c in key)
        {
            if (c == '.')
            {
                if (wordLength == 0)
                {
                    return false;
                }

                wordLength = 0;
            }
            else if (char.IsAsciiLetterOrDigit(c) || c is '_' or '-')
            {
                wordLength++;
            }
            else
            {
                return false;
            }
        }

        return wordLength > 0;
    }
}
