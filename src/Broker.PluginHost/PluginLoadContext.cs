using System.Reflection;
using System.Runtime.Loader;

namespace Broker.PluginHost;

/// <summary>
/// The collectible load context of one plugin instance. Only Broker.Abstractions and the
/// Microsoft.Extensions.*.Abstractions assemblies (plus Microsoft.Extensions.Primitives, whose types their
/// signatures use) come from the host, so plugin and host agree on the SDK's types; every other assembly the plugin
/// carries is loaded here, so two plugins can use different versions of one dependency. Framework assemblies (.NET,
/// ASP.NET Core) the plugin does not carry come from the host. Any other assembly of the broker's own (Broker.Core,
/// Broker.Protocol...) is never handed to a plugin that does not carry it: the load fails naming the assembly, rather
/// than the plugin silently binding to host internals that change without notice.
/// <para>
/// The assemblies the manifest lists in <c>sharedAssemblies</c> are the exception: they are loaded into
/// <see cref="AssemblyLoadContext.Default"/>, once for the process (the first plugin instance to use one loads it from
/// its folder; later instances, reloads included, get that same assembly), and never unloaded. They are for native
/// interop whose calls block: a thread blocked in a P/Invoke with a frame of a collectible context on its stack while
/// that context is unloaded and GCs run can crash the runtime, so such calls must be made from code that is never
/// unloaded.
/// </para>
/// </summary>
/// <remarks>
/// Assemblies are read into memory and loaded from the bytes, never from the file: the plugin's folder stays
/// unlocked, and a reload sees a rebuilt DLL under the same path.
/// </remarks>
internal sealed class PluginLoadContext : AssemblyLoadContext
{
    /// <summary>Serialises finding-or-loading a shared assembly in the default context (two plugins may start at once).</summary>
    private static readonly Lock DefaultLoadLock = new();

    private readonly AssemblyDependencyResolver _resolver;
    private readonly string _directory;
    private readonly HashSet<string> _sharedAssemblies;

    public PluginLoadContext(string name, string entryAssemblyPath, IEnumerable<string>? sharedAssemblies = null)
        : base(name, isCollectible: true)
    {
        _resolver = new AssemblyDependencyResolver(entryAssemblyPath);
        _directory = Path.GetDirectoryName(Path.GetFullPath(entryAssemblyPath))!;
        _sharedAssemblies = new HashSet<string>(sharedAssemblies ?? [], StringComparer.OrdinalIgnoreCase);
    }

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
        if (assemblyName.Name is { } sharedName && _sharedAssemblies.Contains(sharedName))
            return LoadIntoDefault(sharedName, assemblyName);
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

    /// <summary>
    /// The assembly named <paramref name="name"/> in the default context: the one already loaded there (whatever its
    /// version: the first one loaded stays for the process's life), else the plugin's copy, loaded from its file.
    /// </summary>
    private Assembly LoadIntoDefault(string name, AssemblyName assemblyName)
    {
        lock (DefaultLoadLock)
        {
            foreach (var loaded in Default.Assemblies)
            {
                if (string.Equals(loaded.GetName().Name, name, StringComparison.OrdinalIgnoreCase))
                    return loaded;
            }
            var path = _resolver.ResolveAssemblyToPath(assemblyName) is { } resolved && File.Exists(resolved)
                ? resolved
                : Path.Combine(_directory, name + ".dll");
            if (!File.Exists(path))
                throw new FileNotFoundException($"the plugin declares {name} in sharedAssemblies but {path} does not exist", path);
            return Default.LoadFromAssemblyPath(path);
        }
    }

    protected override IntPtr LoadUnmanagedDll(string unmanagedDllName) =>
        _resolver.ResolveUnmanagedDllToPath(unmanagedDllName) is { } path ? LoadUnmanagedDllFromPath(path) : IntPtr.Zero;
}
