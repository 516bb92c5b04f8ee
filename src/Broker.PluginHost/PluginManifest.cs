using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Text.Json;
using System.Text.RegularExpressions;
using Broker.Abstractions.Plugins;

namespace Broker.PluginHost;

/// <summary>
/// A plugin's <c>plugin.json</c>: <c>name</c> (as operators type it; equal to its folder's name), <c>version</c>,
/// <c>description</c>, <c>entryAssembly</c> (a file name in the folder), <c>sdkVersion</c> (<c>major.minor</c>) and
/// optionally <c>sharedAssemblies</c> (simple names of assemblies of the plugin's own that are loaded once into the
/// shared, never unloaded context, as its third-party packages are by default) and <c>isolateDependencies</c>
/// (<c>true</c>, or package ids: third-party packages loaded into the plugin's own collectible context instead; see
/// <see cref="SharedDependencyContext"/>).
/// </summary>
internal sealed partial record PluginManifest(string Name, string Version, string Description, string EntryAssembly, Version SdkVersion, string Directory)
{
    /// <summary>The simple names (no <c>.dll</c>) of the plugin's own assemblies loaded into the shared context, never unloaded.</summary>
    public IReadOnlyList<string> SharedAssemblies { get; init; } = [];

    /// <summary><c>"isolateDependencies": true</c>: none of the plugin's packages is shared; each load gets private copies.</summary>
    public bool IsolateAllDependencies { get; init; }

    /// <summary><c>"isolateDependencies": ["Id", ...]</c>: these package ids (and what depends on them) are not shared.</summary>
    public IReadOnlyList<string> IsolatedDependencies { get; init; } = [];

    public const string FileName = "plugin.json";

    public string EntryAssemblyPath => Path.Combine(Directory, EntryAssembly);

    /// <summary>Plugin names are what operators type and what files are named after: lower case, digits, <c>_</c>.</summary>
    public static bool IsValidName(string name) => NamePattern().IsMatch(name);

    /// <summary>Reads and validates <c>&lt;directory&gt;/plugin.json</c>; throws <see cref="PluginException"/> naming the file and the problem.</summary>
    public static PluginManifest Load(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
            throw new PluginException(PluginError.UnknownPlugin, $"{path}: not found");
        JsonElement root;
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            root = document.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw Invalid(path, $"not valid JSON: {ex.Message}");
        }
        if (root.ValueKind != JsonValueKind.Object)
            throw Invalid(path, "expected a JSON object");

        var name = Required(root, path, "name");
        if (!IsValidName(name))
            throw Invalid(path, $"name \"{name}\": use lower-case letters, digits and _ (starting with a letter)");
        var folder = Path.GetFileName(Path.TrimEndingDirectorySeparator(directory));
        if (!string.Equals(name, folder, StringComparison.Ordinal))
            throw Invalid(path, $"name \"{name}\" differs from its folder \"{folder}\"");
        var version = Required(root, path, "version");
        var description = Optional(root, path, "description") ?? "";
        var entry = Required(root, path, "entryAssembly");
        if (entry != Path.GetFileName(entry) || !entry.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
            throw Invalid(path, $"entryAssembly \"{entry}\": expected a .dll file name in the plugin's folder");
        if (!File.Exists(Path.Combine(directory, entry)))
            throw Invalid(path, $"entryAssembly \"{entry}\" not found in {directory} (is the plugin built?)");
        var sdkText = Required(root, path, "sdkVersion");
        if (!System.Version.TryParse(sdkText, out var sdk) || sdk.Build > 0 || sdk.Revision > 0)
            throw Invalid(path, $"sdkVersion \"{sdkText}\": expected major.minor, e.g. {Abstractions.Plugins.SdkVersion.Current}");
        var shared = SharedAssemblyNames(root, path, directory, entry);
        var (isolateAll, isolated) = Isolation(root, path);
        foreach (var id in isolated)
        {
            if (shared.Contains(id, StringComparer.OrdinalIgnoreCase))
                throw Invalid(path, $"\"{id}\" is both in sharedAssemblies and in isolateDependencies");
        }
        return new PluginManifest(name, version, description, entry, sdk, directory)
        {
            SharedAssemblies = shared,
            IsolateAllDependencies = isolateAll,
            IsolatedDependencies = isolated,
        };
    }

    /// <summary>
    /// <c>isolateDependencies</c>: absent or <c>false</c> (share every package), <c>true</c> (share none), or an array of
    /// package ids as the plugin's project references them (<c>["Npgsql"]</c>). Whether each id is a package of the
    /// plugin is checked against its deps.json when it is loaded.
    /// </summary>
    private static (bool All, List<string> Ids) Isolation(JsonElement root, string path)
    {
        var ids = new List<string>();
        if (!root.TryGetProperty("isolateDependencies", out var value) || value.ValueKind is JsonValueKind.Null or JsonValueKind.False)
            return (false, ids);
        if (value.ValueKind == JsonValueKind.True)
            return (true, ids);
        const string Expected = "\"isolateDependencies\" must be true, false or an array of package ids";
        if (value.ValueKind != JsonValueKind.Array)
            throw Invalid(path, Expected);
        foreach (var item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String || item.GetString()!.Trim() is not { Length: > 0 } id)
                throw Invalid(path, Expected);
            if (id.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) || id != Path.GetFileName(id))
                throw Invalid(path, $"isolateDependencies \"{id}\": expected a package id, e.g. Npgsql");
            if (!ids.Contains(id, StringComparer.OrdinalIgnoreCase))
                ids.Add(id);
        }
        return (false, ids);
    }

    /// <summary><c>sharedAssemblies</c>: an array of simple assembly names, each <c>&lt;name&gt;.dll</c> in the folder.</summary>
    private static List<string> SharedAssemblyNames(JsonElement root, string path, string directory, string entry)
    {
        var names = new List<string>();
        if (!root.TryGetProperty("sharedAssemblies", out var value) || value.ValueKind == JsonValueKind.Null)
            return names;
        if (value.ValueKind != JsonValueKind.Array)
            throw Invalid(path, "\"sharedAssemblies\" must be an array of assembly names");
        foreach (var item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String || item.GetString()!.Trim() is not { Length: > 0 } name)
                throw Invalid(path, "\"sharedAssemblies\" must be an array of assembly names");
            if (name != Path.GetFileName(name) || name.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
                throw Invalid(path, $"sharedAssemblies \"{name}\": expected an assembly's simple name, e.g. Acme.Native for Acme.Native.dll in the plugin's folder");
            if (string.Equals(name + ".dll", entry, StringComparison.OrdinalIgnoreCase))
                throw Invalid(path, $"sharedAssemblies \"{name}\": the entry assembly is always loaded into the plugin's own (unloadable) context");
            if (PluginLoadContext.IsShared(new System.Reflection.AssemblyName(name)))
                throw Invalid(path, $"sharedAssemblies \"{name}\": the host already shares it with every plugin");
            if (!File.Exists(Path.Combine(directory, name + ".dll")))
                throw Invalid(path, $"sharedAssemblies \"{name}\": {name}.dll not found in {directory} (is the plugin built?)");
            if (!names.Contains(name, StringComparer.OrdinalIgnoreCase))
                names.Add(name);
        }
        return names;
    }

    /// <summary>
    /// Refuses a plugin built against an incompatible SDK: the version its manifest declares, and the version of
    /// Broker.Abstractions its entry assembly actually references (read from metadata, nothing loaded).
    /// </summary>
    public void CheckSdk()
    {
        if (!Abstractions.Plugins.SdkVersion.IsCompatible(SdkVersion, out var reason))
            throw new PluginException(PluginError.IncompatibleSdk, $"plugin {Name} {Version}: {reason}");
        if (ReferencedSdk() is { } referenced && !Abstractions.Plugins.SdkVersion.IsCompatible(new Version(referenced.Major, referenced.Minor), out reason))
            throw new PluginException(PluginError.IncompatibleSdk, $"plugin {Name} {Version}: its {EntryAssembly} was {reason}");
    }

    private Version? ReferencedSdk()
    {
        using var stream = new MemoryStream(File.ReadAllBytes(EntryAssemblyPath));
        using var pe = new PEReader(stream);
        if (!pe.HasMetadata)
            throw new PluginException(PluginError.InvalidManifest, $"{EntryAssemblyPath}: not a .NET assembly");
        var reader = pe.GetMetadataReader();
        foreach (var handle in reader.AssemblyReferences)
        {
            var reference = reader.GetAssemblyReference(handle);
            if (reader.StringComparer.Equals(reference.Name, typeof(IBrokerPlugin).Assembly.GetName().Name!))
                return reference.Version;
        }
        return null;
    }

    private static string Required(JsonElement root, string path, string property) =>
        Optional(root, path, property) is { Length: > 0 } value ? value : throw Invalid(path, $"\"{property}\" is required");

    private static string? Optional(JsonElement root, string path, string property)
    {
        if (!root.TryGetProperty(property, out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        if (value.ValueKind != JsonValueKind.String)
            throw Invalid(path, $"\"{property}\" must be a string");
        return value.GetString()!.Trim();
    }

    private static PluginException Invalid(string path, string problem) => new(PluginError.InvalidManifest, $"{path}: {problem}");

    [GeneratedRegex("^[a-z][a-z0-9_]*$")]
    private static partial Regex NamePattern();
}
