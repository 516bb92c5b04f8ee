namespace Broker.PluginHost;

/// <summary>
/// <c>data/loaded_plugins</c>: the plugins started at boot, one name per line in start order, <c>#</c> comments.
/// Updated by load and unload, keeping the operator's comments; rewritten atomically.
/// </summary>
internal sealed class LoadedPluginsFile(string path)
{
    private const string Header = "# Plugins started at boot, one name per line, in start order.";

    public string Path { get; } = path;

    public IReadOnlyList<string> Read()
    {
        var names = new List<string>();
        if (!File.Exists(Path))
            return names;
        foreach (var raw in File.ReadAllLines(Path))
        {
            var line = StripComment(raw);
            if (line.Length > 0 && !names.Contains(line, StringComparer.Ordinal))
                names.Add(line);
        }
        return names;
    }

    public bool Contains(string name) => Read().Contains(name, StringComparer.Ordinal);

    public void Add(string name)
    {
        var lines = ReadLines();
        if (lines.Exists(l => StripComment(l) == name))
            return;
        lines.Add(name);
        Write(lines);
    }

    public void Remove(string name)
    {
        var lines = ReadLines();
        if (lines.RemoveAll(l => StripComment(l) == name) > 0)
            Write(lines);
    }

    private List<string> ReadLines() => File.Exists(Path) ? [.. File.ReadAllLines(Path)] : [Header];

    private void Write(List<string> lines)
    {
        System.IO.Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        var temp = Path + ".tmp";
        File.WriteAllLines(temp, lines);
        File.Move(temp, Path, overwrite: true);
    }

    private static string StripComment(string line)
    {
        var hash = line.IndexOf('#', StringComparison.Ordinal);
        return (hash >= 0 ? line[..hash] : line).Trim();
    }
}
