using System.Reflection;
using System.Runtime.Loader;

namespace Broker.PluginHost;

/// <summary>
/// The one load context, never unloaded, that holds the third-party code of every plugin: each assembly of a NuGet
/// package a plugin carries (<c>"type": "package"</c> in its deps.json) is loaded here once, the first time a plugin
/// carrying it is loaded, and every later load and reload of that plugin, and every other plugin carrying the same
/// package at the same version, gets that same assembly. The plugin's own assemblies (its entry assembly and its
/// projects) stay in its collectible <see cref="PluginLoadContext"/> and are unloaded with it.
/// </summary>
/// <remarks>
/// <para><b>Why.</b> Unloading a context while a database driver's copy in it still has threads or native callbacks in
/// flight, and another copy runs in the next instance, crashed the runtime (access violations in the GC when the old
/// context was collected; dotnet/runtime#116953 is of this kind). Drivers expect to live as long as the process: they
/// keep pools, meters and exit handlers in statics. Loaded once, they do, and a reload only replaces the plugin's own
/// code. The price: a new version of a shared package needs a broker restart, and a shared library that caches the
/// plugin's own types in its statics keeps the plugin in memory (reported leaking). Both are what
/// <c>"isolateDependencies"</c> in plugin.json is for.</para>
/// <para><b>Why not the default context.</b> The broker's own dependencies live there (NATS.Net, Serilog...): a plugin
/// carrying another version of one of them would get the broker's. This context sees only the plugins' packages and,
/// for anything else, falls back to the default one (the .NET and ASP.NET Core frameworks, and the SDK assemblies of
/// <see cref="PluginLoadContext.IsShared"/>).</para>
/// <para><b>A package and what it depends on go together.</b> A package is shared only with its whole dependency
/// closure (from the deps.json), so shared code never binds to a version the plugin did not ship. When any assembly
/// of that closure is already shared at another version (two plugins carrying different versions of a package), or
/// isolated by the plugin, the package is loaded privately into the plugin's context instead, as every dependency was
/// before, and the load's result and log say so: a second version is never refused and never silently swapped for
/// the first.</para>
/// <para><b>sharedAssemblies.</b> Assemblies of the plugin's own listed in plugin.json's <c>sharedAssemblies</c> (and
/// their closure) are loaded here too (native interop whose blocking calls must not run from unloadable code). Those
/// must be shared: when another version is already here, the load is refused, naming both.</para>
/// </remarks>
internal sealed class SharedDependencyContext : AssemblyLoadContext
{
    /// <summary>The broker's: one per process, as the code it holds is never unloaded.</summary>
    public static SharedDependencyContext Process { get; } = new();

    private readonly Lock _lock = new();
    private readonly Dictionary<string, SharedAssembly> _byName = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<AssemblyDependencyResolver> _resolvers = [];
    private readonly HashSet<string> _resolverPaths = new(StringComparer.Ordinal);

    /// <summary>A context of its own; the broker uses <see cref="Process"/>, tests make fresh ones.</summary>
    public SharedDependencyContext(string name = "plugin-dependencies")
        : base(name, isCollectible: false)
    {
    }

    /// <summary>One shared assembly: which package (or project) version it is and which plugin loaded it first.</summary>
    private sealed record SharedAssembly(Assembly Assembly, string Identity, string FirstPlugin);

    /// <summary>What a plugin instance gets from this context.</summary>
    /// <param name="Assemblies">The shared assemblies its context hands out, by simple name.</param>
    /// <param name="Warnings">Packages loaded privately because another version is shared (one sentence each).</param>
    internal sealed record Selection(IReadOnlyDictionary<string, Assembly> Assemblies, IReadOnlyList<string> Warnings);

    /// <summary>The shared assembly named <paramref name="name"/>, or null.</summary>
    public Assembly? Find(string name)
    {
        lock (_lock)
            return _byName.TryGetValue(name, out var shared) ? shared.Assembly : null;
    }

    /// <summary>
    /// Loads what <paramref name="manifest"/>'s plugin shares (the first time each assembly is needed) and returns the
    /// shared assemblies its new context must hand out, with a warning for each package it gets a private copy of.
    /// </summary>
    /// <exception cref="PluginException">A name in isolateDependencies is not one of its packages; an assembly of
    /// sharedAssemblies cannot be shared (another version is, or it depends on an isolated package).</exception>
    public Selection Select(PluginManifest manifest, AssemblyDependencyResolver resolver)
    {
        var dependencies = PluginDependencies.Read(manifest.EntryAssemblyPath);
        var manifestPath = Path.Combine(manifest.Directory, PluginManifest.FileName);
        var isolated = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var id in manifest.IsolatedDependencies)
        {
            if (!dependencies.Libraries.TryGetValue(id, out var library) || !library.IsPackage)
            {
                throw new PluginException(PluginError.InvalidManifest,
                    $"{manifestPath}: isolateDependencies \"{id}\": not a package of the plugin ({dependencies.Path ?? "it has no .deps.json"})");
            }
            isolated.Add(library.Id);
        }
        bool IsIsolated(PluginDependencies.Library library) =>
            library.IsPackage && (manifest.IsolateAllDependencies || isolated.Contains(library.Id));

        lock (_lock)
        {
            var files = new Dictionary<PluginDependencies.Library, List<(string Path, AssemblyName Name)>>();
            List<(string Path, AssemblyName Name)>? Files(PluginDependencies.Library library, out string? problem)
            {
                problem = null;
                if (files.TryGetValue(library, out var known))
                    return known;
                var list = new List<(string, AssemblyName)>();
                foreach (var simple in library.Assemblies)
                {
                    if (PluginLoadContext.IsShared(new AssemblyName(simple)))
                        continue; // the host's copy, for every plugin
                    var path = resolver.ResolveAssemblyToPath(new AssemblyName(simple)) is { } resolved && File.Exists(resolved)
                        ? resolved
                        : Path.Combine(manifest.Directory, simple + ".dll");
                    if (!File.Exists(path))
                    {
                        problem = $"{simple}.dll of {library} is not in {manifest.Directory}";
                        return null;
                    }
                    var name = AssemblyName.GetAssemblyName(path);
                    if (_byName.TryGetValue(name.Name!, out var shared) && shared.Identity != Identity(library, name))
                    {
                        problem = $"{shared.Identity} is shared (loaded first for {shared.FirstPlugin})";
                        return null;
                    }
                    list.Add((path, name));
                }
                files[library] = list;
                return list;
            }

            var chosen = new HashSet<PluginDependencies.Library>();
            // sharedAssemblies: shared with their closure, or the load is refused.
            foreach (var simple in manifest.SharedAssemblies)
            {
                var root = dependencies.LibraryOf(simple) ?? new PluginDependencies.Library(simple, "", IsPackage: false, [simple], []);
                foreach (var library in dependencies.Closure(root))
                {
                    if (IsIsolated(library))
                    {
                        throw new PluginException(PluginError.StartFailed,
                            $"plugin {manifest.Name}: {simple} is in sharedAssemblies but depends on {library}, which isolateDependencies keeps private");
                    }
                    if (Files(library, out var problem) is null)
                    {
                        throw new PluginException(PluginError.StartFailed,
                            $"plugin {manifest.Name}: {simple} is in sharedAssemblies but cannot be shared: {problem}; a shared assembly is never " +
                            "replaced while the broker runs: restart the broker to load this version");
                    }
                    chosen.Add(library);
                }
            }

            // Packages: shared with their closure when every part of it can be; else private, and said when it is
            // because another version is shared.
            var warnings = new List<string>();
            foreach (var package in dependencies.Libraries.Values)
            {
                if (!package.IsPackage || IsIsolated(package) || chosen.Contains(package))
                    continue;
                var closure = dependencies.Closure(package);
                string? reason = null;
                foreach (var library in closure)
                {
                    if (chosen.Contains(library))
                        continue;
                    if (!library.IsPackage || IsIsolated(library))
                    {
                        reason = ""; // kept private as the plugin asked, or not a package: nothing to warn about
                        break;
                    }
                    if (Files(library, out var problem) is null)
                    {
                        reason = library == package
                            ? $"{package} is loaded privately for plugin {manifest.Name}: {problem}"
                            : $"{package} is loaded privately for plugin {manifest.Name}: it depends on {library}, and {problem}";
                        break;
                    }
                }
                if (reason is null)
                    chosen.UnionWith(closure);
                else if (reason.Length > 0)
                    warnings.Add(reason + "; a reload reloads the private copy, a broker restart is needed to share another version");
            }

            var assemblies = new Dictionary<string, Assembly>(StringComparer.OrdinalIgnoreCase);
            foreach (var library in chosen)
            {
                foreach (var (path, name) in files[library])
                {
                    if (!_byName.TryGetValue(name.Name!, out var shared))
                    {
                        shared = new SharedAssembly(AssemblyFiles.LoadFromBytes(this, path), Identity(library, name), manifest.Name);
                        _byName.Add(name.Name!, shared);
                    }
                    assemblies[name.Name!] = shared.Assembly;
                }
            }
            if (assemblies.Count > 0 && _resolverPaths.Add(manifest.EntryAssemblyPath))
                _resolvers.Add(resolver); // for the native libraries of what it shared
            return new Selection(assemblies, warnings);
        }
    }

    /// <summary>What makes two copies the same: the package and its version (a project: its assembly version).</summary>
    private static string Identity(PluginDependencies.Library library, AssemblyName name) =>
        library.IsPackage ? $"{library.Id} {library.Version}" : $"{name.Name} {name.Version}";

    protected override Assembly? Load(AssemblyName assemblyName)
    {
        // What it shares, else the default context: the frameworks and the SDK assemblies shared with the host.
        lock (_lock)
            return assemblyName.Name is { } name && _byName.TryGetValue(name, out var shared) ? shared.Assembly : null;
    }

    protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
    {
        AssemblyDependencyResolver[] resolvers;
        lock (_lock)
            resolvers = [.. _resolvers];
        foreach (var resolver in resolvers)
        {
            if (resolver.ResolveUnmanagedDllToPath(unmanagedDllName) is { } path)
                return LoadUnmanagedDllFromPath(path);
        }
        return IntPtr.Zero;
    }
}

/// <summary>Loading assemblies from their bytes, so the plugin's folder is never locked and a rebuilt DLL is read afresh.</summary>
internal static class AssemblyFiles
{
    public static Assembly LoadFromBytes(AssemblyLoadContext context, string path)
    {
        using var assembly = new MemoryStream(File.ReadAllBytes(path));
        var pdbPath = Path.ChangeExtension(path, ".pdb");
        using var pdb = File.Exists(pdbPath) ? new MemoryStream(File.ReadAllBytes(pdbPath)) : null;
        return context.LoadFromStream(assembly, pdb);
    }
}
