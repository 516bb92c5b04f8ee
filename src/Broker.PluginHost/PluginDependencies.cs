using System.Text.Json;

namespace Broker.PluginHost;

/// <summary>
/// What a plugin's <c>&lt;entry&gt;.deps.json</c> says it is made of: one <see cref="Library"/> per package or project
/// the build resolved, with the assemblies it brings and the libraries it depends on. The build writes it from the
/// project's references, so it is the one place that tells a NuGet package (<c>"type": "package"</c>: third-party
/// code) from the plugin's own projects (<c>"type": "project"</c>) without guessing from names.
/// </summary>
internal sealed class PluginDependencies
{
    /// <summary>One library of the deps.json.</summary>
    /// <param name="Id">The package id or project name (<c>Npgsql</c>, <c>Broker.Plugins.Auth</c>).</param>
    /// <param name="Version">Its resolved version (<c>10.0.3</c>).</param>
    /// <param name="IsPackage">A NuGet package (<c>"type": "package"</c>), not a project or a bare reference.</param>
    /// <param name="Assemblies">The simple names of the managed assemblies it brings at run time (from its file names).</param>
    /// <param name="Dependencies">The ids of the libraries it depends on.</param>
    internal sealed record Library(string Id, string Version, bool IsPackage, IReadOnlyList<string> Assemblies, IReadOnlyList<string> Dependencies)
    {
        public override string ToString() => $"{Id} {Version}";
    }

    private readonly Dictionary<string, Library> _libraries;

    private PluginDependencies(Dictionary<string, Library> libraries, string? path)
    {
        _libraries = libraries;
        Path = path;
    }

    /// <summary>The deps.json read, or null when the plugin has none (then every assembly it carries counts as its own).</summary>
    public string? Path { get; }

    /// <summary>Every library by id (case-insensitive, as NuGet ids are).</summary>
    public IReadOnlyDictionary<string, Library> Libraries => _libraries;

    /// <summary>The library that brings the assembly named <paramref name="assembly"/>, if any.</summary>
    public Library? LibraryOf(string assembly)
    {
        foreach (var library in _libraries.Values)
        {
            foreach (var name in library.Assemblies)
            {
                if (string.Equals(name, assembly, StringComparison.OrdinalIgnoreCase))
                    return library;
            }
        }
        return null;
    }

    /// <summary><paramref name="root"/> and every library it depends on, directly or not (ids not in the file are skipped).</summary>
    public List<Library> Closure(Library root)
    {
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { root.Id };
        var closure = new List<Library> { root };
        for (var i = 0; i < closure.Count; i++)
        {
            foreach (var id in closure[i].Dependencies)
            {
                if (seen.Add(id) && _libraries.TryGetValue(id, out var library))
                    closure.Add(library);
            }
        }
        return closure;
    }

    /// <summary>
    /// Reads <c>&lt;entry&gt;.deps.json</c> beside <paramref name="entryAssemblyPath"/>; no file gives no libraries.
    /// </summary>
    /// <exception cref="PluginException">The file is not a deps.json the host can read.</exception>
    public static PluginDependencies Read(string entryAssemblyPath)
    {
        var path = System.IO.Path.ChangeExtension(entryAssemblyPath, ".deps.json");
        var libraries = new Dictionary<string, Library>(StringComparer.OrdinalIgnoreCase);
        if (!File.Exists(path))
            return new PluginDependencies(libraries, null);
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = document.RootElement;
            var types = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            if (root.TryGetProperty("libraries", out var declared) && declared.ValueKind == JsonValueKind.Object)
            {
                foreach (var library in declared.EnumerateObject())
                {
                    if (library.Value.ValueKind == JsonValueKind.Object && library.Value.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String)
                        types[library.Name] = type.GetString()!;
                }
            }
            if (Target(root) is not { } target)
                return new PluginDependencies(libraries, path);
            foreach (var entry in target.EnumerateObject())
            {
                var slash = entry.Name.IndexOf('/', StringComparison.Ordinal);
                if (slash <= 0 || entry.Value.ValueKind != JsonValueKind.Object)
                    continue;
                var assemblies = new List<string>();
                AddAssemblies(entry.Value, "runtime", assemblies, ridSpecific: false);
                AddAssemblies(entry.Value, "runtimeTargets", assemblies, ridSpecific: true);
                var dependencies = new List<string>();
                if (entry.Value.TryGetProperty("dependencies", out var deps) && deps.ValueKind == JsonValueKind.Object)
                {
                    foreach (var dependency in deps.EnumerateObject())
                        dependencies.Add(dependency.Name);
                }
                var isPackage = types.TryGetValue(entry.Name, out var kind) && kind == "package";
                libraries[entry.Name[..slash]] = new Library(entry.Name[..slash], entry.Name[(slash + 1)..], isPackage, assemblies, dependencies);
            }
            return new PluginDependencies(libraries, path);
        }
        catch (JsonException ex)
        {
            throw new PluginException(PluginError.InvalidManifest, $"{path}: not valid JSON: {ex.Message}");
        }
        catch (InvalidOperationException ex)
        {
            throw new PluginException(PluginError.InvalidManifest, $"{path}: not a deps.json the broker can read: {ex.Message}");
        }
    }

    /// <summary>The target the runtime would use: <c>runtimeTarget.name</c>, else the only (first) one.</summary>
    private static JsonElement? Target(JsonElement root)
    {
        if (!root.TryGetProperty("targets", out var targets) || targets.ValueKind != JsonValueKind.Object)
            return null;
        if (root.TryGetProperty("runtimeTarget", out var runtimeTarget) && runtimeTarget.ValueKind == JsonValueKind.Object
            && runtimeTarget.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String
            && targets.TryGetProperty(name.GetString()!, out var named) && named.ValueKind == JsonValueKind.Object)
            return named;
        foreach (var target in targets.EnumerateObject())
        {
            if (target.Value.ValueKind == JsonValueKind.Object)
                return target.Value;
        }
        return null;
    }

    /// <summary>
    /// The assembly names of <c>runtime</c> (file → {}) or of <c>runtimeTargets</c> (file → {rid, assetType}; only
    /// <c>"assetType": "runtime"</c>: managed code for one platform, the rest is native).
    /// </summary>
    private static void AddAssemblies(JsonElement library, string property, List<string> names, bool ridSpecific)
    {
        if (!library.TryGetProperty(property, out var files) || files.ValueKind != JsonValueKind.Object)
            return;
        foreach (var file in files.EnumerateObject())
        {
            if (ridSpecific && !(file.Value.ValueKind == JsonValueKind.Object && file.Value.TryGetProperty("assetType", out var asset)
                && asset.ValueKind == JsonValueKind.String && asset.GetString() == "runtime"))
                continue;
            if (!file.Name.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
                continue;
            var name = System.IO.Path.GetFileNameWithoutExtension(file.Name);
            if (!names.Contains(name, StringComparer.OrdinalIgnoreCase))
                names.Add(name);
        }
    }
}
