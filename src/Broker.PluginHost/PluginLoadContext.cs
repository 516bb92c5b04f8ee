using System.Reflection;
using System.Runtime.Loader;

namespace Broker.PluginHost;

/// <summary>
/// The collectible load context of one plugin instance: the plugin's own assemblies (its entry assembly and the
/// projects it is built from), loaded afresh on every load and reload and unloaded with the instance. What else it
/// binds to comes from elsewhere:
/// <list type="bullet">
/// <item>Broker.Abstractions and the Microsoft.Extensions.*.Abstractions assemblies (plus Microsoft.Extensions.Primitives,
/// whose types their signatures use) from the host, so plugin and host agree on the SDK's types;</item>
/// <item>the third-party packages it carries, and the assemblies of its own listed in <c>sharedAssemblies</c>, from the
/// <see cref="SharedDependencyContext"/> (loaded there once, never unloaded), unless plugin.json isolates them or another
/// version is shared there: then they are loaded here like the plugin's own;</item>
/// <item>framework assemblies (.NET, ASP.NET Core) the plugin does not carry from the host.</item>
/// </list>
/// Any other assembly of the broker's own (Broker.Core, Broker.Protocol...) is never handed to a plugin that does not
/// carry it: the load fails naming the assembly, rather than the plugin silently binding to host internals that change
/// without notice.
/// </summary>
/// <remarks>
/// Assemblies are read into memory and loaded from the bytes, never from the file: the plugin's folder stays
/// unlocked, and a reload sees a rebuilt DLL under the same path.
/// </remarks>
internal sealed class PluginLoadContext : AssemblyLoadContext
{
    private readonly AssemblyDependencyResolver _resolver;
    private readonly IReadOnlyDictionary<string, Assembly> _shared;

    /// <param name="name">The context's name (<c>plugin:&lt;owner&gt;</c>).</param>
    /// <param name="resolver">Reads the plugin's deps.json: where each assembly it carries is.</param>
    /// <param name="shared">What <see cref="SharedDependencyContext.Select"/> chose for this instance, by simple name.</param>
    public PluginLoadContext(string name, AssemblyDependencyResolver resolver, IReadOnlyDictionary<string, Assembly> shared)
        : base(name, isCollectible: true)
    {
        _resolver = resolver;
        _shared = shared;
    }

    /// <summary>Whether <paramref name="name"/> is one of the assemblies plugins share with the host.</summary>
    public static bool IsShared(AssemblyName name)
    {
        var simple = name.Name ?? "";
        return simple == "Broker.Abstractions"
            || simple == "Microsoft.Extensions.Primitives"
            || (simple.StartsWith("Microsoft.Extensions.", StringComparison.Ordinal) && simple.EndsWith(".Abstractions", StringComparison.Ordinal));
    }

    public Assembly LoadFromBytes(string path) => AssemblyFiles.LoadFromBytes(this, path);

    /// <summary>The broker's own assemblies (those beside the host executable) that plugins do not share.</summary>
    private static readonly HashSet<string> HostPrivate = HostPrivateAssemblies();

    private static HashSet<string> HostPrivateAssemblies()
    {
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var file in Directory.EnumerateFiles(AppContext.BaseDirectory, "*.dll"))
        {
            var name = Path.GetFileNameWithoutExtension(file);
            if (!IsShared(new AssemblyName(name)))
                names.Add(name);
        }
        return names;
    }

    protected override Assembly? Load(AssemblyName assemblyName)
    {
        if (IsShared(assemblyName))
            return null;
        if (assemblyName.Name is { } sharedName && _shared.TryGetValue(sharedName, out var shared))
            return shared;
        if (_resolver.ResolveAssemblyToPath(assemblyName) is { } path && File.Exists(path))
            return LoadFromBytes(path);
        if (assemblyName.Name is { } name && HostPrivate.Contains(name))
        {
            throw new FileLoadException(
                $"the plugin uses {name}, which the broker does not share with plugins (they get Broker.Abstractions, " +
                "Microsoft.Extensions.*.Abstractions, Microsoft.Extensions.Primitives and the .NET and ASP.NET Core frameworks): " +
                "ship it in the plugin's folder or use the SDK instead", name);
        }
        return null;
    }

    protected override IntPtr LoadUnmanagedDll(string unmanagedDllName) =>
        _resolver.ResolveUnmanagedDllToPath(unmanagedDllName) is { } path ? LoadUnmanagedDllFromPath(path) : IntPtr.Zero;
}
