using System.Reflection;
using System.Runtime.Loader;

namespace Broker.PluginHost;

/// <summary>
/// The collectible load context of one plugin instance. Only Broker.Abstractions and the
/// Microsoft.Extensions.*.Abstractions assemblies (plus Microsoft.Extensions.Primitives, whose types their
/// signatures use) come from the host, so plugin and host agree on the SDK's types; every other assembly the plugin
/// carries is loaded here, so two plugins can use different versions of one dependency. Framework assemblies the
/// plugin does not carry come from the host.
/// </summary>
/// <remarks>
/// Assemblies are read into memory and loaded from the bytes, never from the file: the plugin's folder stays
/// unlocked, and a reload sees a rebuilt DLL under the same path.
/// </remarks>
internal sealed class PluginLoadContext : AssemblyLoadContext
{
    private readonly AssemblyDependencyResolver _resolver;

    public PluginLoadContext(string name, string entryAssemblyPath)
        : base(name, isCollectible: true) => _resolver = new AssemblyDependencyResolver(entryAssemblyPath);

    /// <summary>Whether <paramref name="name"/> is one of the assemblies plugins share with the host.</summary>
    public static bool IsShared(AssemblyName name)
    {
        var simple = name.Name ?? "";
        return simple == "Broker.Abstractions"
            || simple == "Microsoft.Extensions.Primitives"
            || (simple.StartsWith("Microsoft.Extensions.", StringComparison.Ordinal) && simple.EndsWith(".Abstractions", StringComparison.Ordinal));
    }

    public Assembly LoadFromBytes(string path)
    {
        using var assembly = new MemoryStream(File.ReadAllBytes(path));
        var pdbPath = Path.ChangeExtension(path, ".pdb");
        using var pdb = File.Exists(pdbPath) ? new MemoryStream(File.ReadAllBytes(pdbPath)) : null;
        return LoadFromStream(assembly, pdb);
    }

    protected override Assembly? Load(AssemblyName assemblyName)
    {
        if (IsShared(assemblyName))
            return null;
        return _resolver.ResolveAssemblyToPath(assemblyName) is { } path ? LoadFromBytes(path) : null;
    }

    protected override IntPtr LoadUnmanagedDll(string unmanagedDllName) =>
        _resolver.ResolveUnmanagedDllToPath(unmanagedDllName) is { } path ? LoadUnmanagedDllFromPath(path) : IntPtr.Zero;
}
