using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Text.Json;
using System.Text.RegularExpressions;
using Broker.Abstractions.Plugins;

namespace Broker.PluginHost;

/// <summary>
/// A plugin's <c>plugin.json</c>: <c>name</c> (as operators type it; equal to its folder's name), <c>version</c>,
/// <c>description</c>, <c>entryAssembly</c> (a file name in the folder) and <c>sdkVersion</c> (<c>major.minor</c>).
/// </summary>
internal sealed partial record PluginManifest(string Name, string Version, string Description, string EntryAssembly, Version SdkVersion, string Directory)
{
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
        return new PluginManifest(name, version, description, entry, sdk, directory);
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
