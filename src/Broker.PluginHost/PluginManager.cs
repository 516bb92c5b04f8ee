using System.Diagnostics;
using System.Runtime.CompilerServices;
using Broker.Abstractions.Plugins;
using Broker.Core.Hooks;
using Broker.Core.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Broker.PluginHost;

/// <summary>
/// Loads, starts, stops, reloads and unloads plugins, and keeps <c>data/loaded_plugins</c> in step. The in-process
/// API behind <c>ctl plugins</c>; every operation returns a <see cref="PluginResult"/> instead of throwing.
/// </summary>
/// <remarks>
/// <para>Operations are serialised (one at a time); <see cref="ListAsync"/> never waits for them.</para>
/// <para>The life of one instance: its third-party packages found in (or loaded once into) the
/// <see cref="SharedDependencyContext"/> → a new collectible <see cref="PluginLoadContext"/> for its own assemblies → entry type created →
/// <see cref="IBrokerPlugin.StartAsync"/> (bounded by <c>plugins.start_timeout</c>) → running → its hooks removed
/// and their running calls awaited (<see cref="PluginResources.UnhookAsync"/>) → <see cref="IPluginContext.Stopping"/>
/// cancelled → <see cref="IBrokerPlugin.StopAsync"/> (bounded by <c>plugins.stop_timeout</c>) → its timers disposed → context unloaded → the host polls the
/// GC until the context is collected or <c>plugins.unload_timeout</c> passes (then: leaking). Every instance has
/// its own hook owner (<c>name#generation</c>), so a reload can run the new instance's hooks beside the old ones
/// before removing exactly the old ones: no moment with an empty chain.</para>
/// <para>No reference to a plugin's objects may survive in the host once its instance is retired: the instance
/// fields are cleared and the exception of a failed start is kept only as text.</para>
/// </remarks>
internal sealed partial class PluginManager
{
    private readonly PluginSupport _core;
    private readonly PluginHostOptions _options;
    private readonly string _dataDirectory;
    private readonly IPluginConfigurationSource _configuration;
    private readonly SharedDependencyContext _sharedDependencies;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly List<string> _startOrder = [];
    private long _generation;

    /// <param name="core">The core's port for the plugin host.</param>
    /// <param name="options">plugins.* options.</param>
    /// <param name="pluginsDirectories">
    /// The resolved plugin directories in search order: <c>plugins.directory</c>, then the plugins bundled with the broker.
    /// A plugin is found in the first that has <c>&lt;name&gt;/plugin.json</c>.
    /// </param>
    /// <param name="dataDirectory">The broker's data directory (loaded_plugins, plugins/&lt;name&gt;/).</param>
    /// <param name="configuration">Reads plugins' .conf files and binds their options.</param>
    /// <param name="sharedDependencies">Where plugins' third-party packages are loaded once; the process's by default.</param>
    public PluginManager(PluginSupport core, PluginHostOptions options, IReadOnlyList<string> pluginsDirectories, string dataDirectory,
        IPluginConfigurationSource configuration, SharedDependencyContext? sharedDependencies = null)
    {
        _sharedDependencies = sharedDependencies ?? SharedDependencyContext.Process;
        _core = core;
        _options = options;
        PluginsDirectories = [.. pluginsDirectories.Select(Path.GetFullPath).Distinct(StringComparer.Ordinal)];
        _dataDirectory = Path.GetFullPath(dataDirectory);
        _configuration = configuration;
        _logger = core.LoggerFactory.CreateLogger("Broker.PluginHost");
        LoadedPlugins = new LoadedPluginsFile(Path.Combine(_dataDirectory, "loaded_plugins"));
    }

    public IReadOnlyList<string> PluginsDirectories { get; }

    /// <summary>
    /// The folder of plugin <paramref name="name"/>: the first of <see cref="PluginsDirectories"/> whose plugin.json has
    /// its entry assembly beside it, else the first that has a plugin.json (its load reports what is missing), else
    /// the first's. A source checkout used as the home (scripts/start.sh) has plugins/&lt;name&gt;/plugin.json of every
    /// shipped plugin without build output: the copy bundled with the broker must win over it.
    /// </summary>
    private string PluginFolder(string name)
    {
        string? declared = null;
        foreach (var directory in PluginsDirectories)
        {
            var folder = Path.Combine(directory, name);
            if (!File.Exists(Path.Combine(folder, PluginManifest.FileName)))
                continue;
            declared ??= folder;
            if (HasEntryAssembly(folder))
                return folder;
        }
        return declared ?? Path.Combine(PluginsDirectories[0], name);
    }

    private static bool HasEntryAssembly(string folder)
    {
        try
        {
            return File.Exists(PluginManifest.Load(folder).EntryAssemblyPath);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return false; // a bad manifest is reported when the plugin is loaded
        }
    }

    public LoadedPluginsFile LoadedPlugins { get; }

    /// <summary>Starts the plugins listed in data/loaded_plugins, in order. A plugin that fails is reported and skipped.</summary>
    public async Task BootAsync()
    {
        foreach (var name in LoadedPlugins.Read())
        {
            var result = await LoadAsync(name, persist: false).ConfigureAwait(false);
            if (result.Succeeded)
                LogBooted(_logger, name);
            else
                LogBootFailed(_logger, name, result.Message);
        }
    }

    /// <summary>Every plugin in the plugins directory and every one loaded, by name.</summary>
    /// <summary>What plugins read of the node (<c>IPluginContext.ReadModel</c>); set by the host before any plugin starts.</summary>
    public Abstractions.Plugins.IBrokerReadModel? ReadModel { get; set; }

    /// <summary>Makes the clients of <c>IPluginContext.CreateManagementClient</c>; set by the host when it serves the management API.</summary>
    public Func<HttpClient>? ManagementClientFactory { get; set; }

    /// <summary>
    /// A plugin's configuration as its .conf file and the environment hold it now (what its next load or reload reads):
    /// each key (dotted), value and where it was set. Masked: values of keys ending in password, passwd, secret or token,
    /// every header of a request (<c>.headers.</c>: authorization tokens), and the user:password part of a URL.
    /// </summary>
    /// <exception cref="Exception">The file cannot be read; the message names file and line.</exception>
    public IReadOnlyList<(string Key, string Value, string? Origin)> ReadConfiguration(string name)
    {
        var configuration = _configuration.Load(name);
        var entries = new List<(string Key, string Value, string? Origin)>();
        foreach (var (path, value) in configuration.AsEnumerable())
        {
            if (value is null)
                continue;
            var key = path.Replace(':', '.');
            entries.Add((key, Mask(key, value), _configuration.OriginOf(configuration, key)));
        }
        entries.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        return entries;
    }

    internal static string Mask(string key, string value)
    {
        if (value.Length == 0)
            return value;
        var last = key[(key.LastIndexOf('.') + 1)..];
        if (SecretKeyPattern().IsMatch(last) || key.Contains(".headers.", StringComparison.Ordinal))
            return "******";
        return UrlUserInfoPattern().Replace(value, "${scheme}******@");
    }

    [System.Text.RegularExpressions.GeneratedRegex("(password|passwd|secret|token)$", System.Text.RegularExpressions.RegexOptions.IgnoreCase)]
    private static partial System.Text.RegularExpressions.Regex SecretKeyPattern();

    [System.Text.RegularExpressions.GeneratedRegex(@"(?<scheme>[a-z][a-z0-9+.\-]*://)[^/@\s]+@", System.Text.RegularExpressions.RegexOptions.IgnoreCase)]
    private static partial System.Text.RegularExpressions.Regex UrlUserInfoPattern();

    public Task<IReadOnlyList<PluginInfo>> ListAsync()
    {
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var directory in PluginsDirectories.Where(Directory.Exists))
        {
            foreach (var dir in Directory.EnumerateDirectories(directory))
            {
                if (File.Exists(Path.Combine(dir, PluginManifest.FileName)))
                    names.Add(Path.GetFileName(dir));
            }
        }
        lock (_entries)
            names.UnionWith(_entries.Keys);
        var atBoot = LoadedPlugins.Read();
        var list = new List<PluginInfo>(names.Count);
        foreach (var name in names)
            list.Add(Describe(name, atBoot.Contains(name, StringComparer.Ordinal)));
        return Task.FromResult<IReadOnlyList<PluginInfo>>(list);
    }

    /// <summary>One plugin's listing entry; null when it is neither in the plugins directory nor loaded.</summary>
    public PluginInfo? Find(string name)
    {
        var known = PluginManifest.IsValidName(name) && File.Exists(Path.Combine(PluginFolder(name), PluginManifest.FileName));
        lock (_entries)
            known |= _entries.ContainsKey(name);
        return known ? Describe(name, LoadedPlugins.Contains(name)) : null;
    }

    /// <summary>Loads and starts a plugin, and adds it to data/loaded_plugins.</summary>
    public Task<PluginResult> LoadAsync(string name) => LoadAsync(name, persist: true);

    private async Task<PluginResult> LoadAsync(string name, bool persist)
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!Exists(name))
                return Unknown(name);
            var entry = GetEntry(name);
            if (entry.State == PluginState.Running)
                return Result(PluginError.AlreadyLoaded, $"plugin {name} is already loaded", name);
            Instance instance;
            try
            {
                instance = await StartInstanceAsync(name).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                var (error, message) = Describe(name, ex);
                entry.Reason = message;
                entry.State = PluginState.Failed;
                LogLoadFailed(_logger, name, message);
                return Result(error, message, name);
            }
            entry.Current = instance;
            entry.Reason = "";
            entry.State = PluginState.Running;
            lock (_entries)
            {
                _startOrder.Remove(name);
                _startOrder.Add(name);
            }
            if (persist)
                LoadedPlugins.Add(name);
            LogLoaded(_logger, name, instance.Version);
            return Result(PluginError.None, $"plugin {name} loaded{Notes(instance)}", name);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Stops and unloads a plugin, removes it from data/loaded_plugins, and checks that its code is collected.</summary>
    public async Task<PluginResult> UnloadAsync(string name)
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!Exists(name))
                return Unknown(name);
            var entry = GetEntry(name);
            if (entry.State != PluginState.Running || entry.Current is not { } instance)
            {
                // A plugin that failed at boot is not loaded, but the operator who unloads it wants it off the boot list.
                var listed = LoadedPlugins.Contains(name);
                if (listed)
                    LoadedPlugins.Remove(name);
                return Result(PluginError.NotLoaded, $"plugin {name} is not loaded{(listed ? " (removed from data/loaded_plugins)" : "")}", name);
            }
            entry.State = PluginState.Unloading;
            entry.Current = null;
            lock (_entries)
                _startOrder.Remove(name);
            LoadedPlugins.Remove(name);
            var weak = await RetireAsync(entry, instance, callStop: true).ConfigureAwait(false);
            if (await WaitCollectedAsync(weak).ConfigureAwait(false))
            {
                entry.State = PluginState.Stopped;
                entry.Reason = "";
                LogUnloaded(_logger, name);
            }
            else
            {
                entry.Leaks.Add(weak);
                entry.State = PluginState.Leaking;
                entry.Reason = LeakReason();
                LogLeaking(_logger, name, _options.UnloadTimeout);
            }
            return Result(PluginError.None, $"plugin {name} unloaded", name);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Starts a new instance of a running plugin (its .conf and assembly read afresh) and only then stops the old
    /// one. When the new instance cannot start, the old one keeps running and the error is returned.
    /// </summary>
    public async Task<PluginResult> ReloadAsync(string name)
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!Exists(name))
                return Unknown(name);
            var entry = GetEntry(name);
            if (entry.State != PluginState.Running || entry.Current is not { } old)
                return Result(PluginError.NotLoaded, $"plugin {name} is not loaded", name);
            Instance fresh;
            try
            {
                fresh = await StartInstanceAsync(name).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                var (error, message) = Describe(name, ex);
                LogReloadFailed(_logger, name, message);
                return Result(error, $"{message} (the running instance is kept)", name);
            }
            entry.Current = fresh;
            var weak = await RetireAsync(entry, old, callStop: true).ConfigureAwait(false);
            if (!await WaitCollectedAsync(weak).ConfigureAwait(false))
            {
                entry.Leaks.Add(weak);
                LogLeaking(_logger, name, _options.UnloadTimeout);
            }
            LogReloaded(_logger, name, fresh.Version);
            return Result(PluginError.None, $"plugin {name} reloaded{Notes(fresh)}", name);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Stops every running plugin in reverse start order (broker shutdown); data/loaded_plugins is left as it is.</summary>
    public async Task StopAllAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            string[] order;
            lock (_entries)
            {
                order = [.. _startOrder];
                _startOrder.Clear();
            }
            for (var i = order.Length - 1; i >= 0; i--)
            {
                var entry = GetEntry(order[i]);
                if (entry.Current is not { } instance)
                    continue;
                entry.Current = null;
                entry.State = PluginState.Unloading;
                await RetireAsync(entry, instance, callStop: true).ConfigureAwait(false);
                entry.State = PluginState.Stopped;
                LogUnloaded(_logger, order[i]);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<Instance> StartInstanceAsync(string name)
    {
        var manifest = PluginManifest.Load(PluginFolder(name));
        manifest.CheckSdk();
        IConfiguration configuration;
        try
        {
            configuration = _configuration.Load(name);
        }
        catch (Exception ex)
        {
            throw new PluginException(PluginError.ConfigurationError, $"plugin {name}: configuration error:{Environment.NewLine}{ex.Message}");
        }
        var dataDirectory = Path.Combine(_dataDirectory, "plugins", name);
        Directory.CreateDirectory(dataDirectory);
        var owner = $"{name}#{Interlocked.Increment(ref _generation)}";
        var instance = CreateInstance(manifest, owner, configuration, dataDirectory);

        string? failure = null;
        var error = PluginError.StartFailed;
        using (var cts = new CancellationTokenSource())
        {
            try
            {
                // On the thread pool, so a plugin that blocks in StartAsync cannot block the caller past the timeout.
                await Task.Run(() => instance.StartAsync(cts.Token)).WaitAsync(_options.StartTimeout, _core.TimeProvider).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                failure = $"plugin {name} did not start within {_options.StartTimeout.TotalSeconds:0.###}s";
                await cts.CancelAsync().ConfigureAwait(false);
            }
            catch (PluginConfigurationException ex)
            {
                failure = $"plugin {name}: configuration error:{Environment.NewLine}{ex.Message}";
                error = PluginError.ConfigurationError;
            }
            catch (FileLoadException ex) when (ex.InnerException is FileLoadException refused)
            {
                // PluginLoadContext refused a host assembly: the runtime wraps its reason.
                failure = $"plugin {name} failed to start: {refused.Message}";
            }
            catch (Exception ex)
            {
                failure = $"plugin {name} failed to start: {ex.GetType().Name}: {ex.Message}";
            }
        }
        if (failure is not null)
        {
            var entry = GetEntry(name);
            await RetireAsync(entry, instance, callStop: false).ConfigureAwait(false);
            throw new PluginException(error, failure);
        }
        return instance;
    }

    /// <summary>The warnings of an instance's load for the operator's answer: packages it got private copies of.</summary>
    private static string Notes(Instance instance) =>
        instance.Warnings.Count == 0 ? "" : $" (warning: {string.Join("; warning: ", instance.Warnings)})";

    [MethodImpl(MethodImplOptions.NoInlining)]
    private Instance CreateInstance(PluginManifest manifest, string owner, IConfiguration configuration, string dataDirectory)
    {
        PluginLoadContext? loadContext = null;
        try
        {
            var resolver = new System.Runtime.Loader.AssemblyDependencyResolver(manifest.EntryAssemblyPath);
            var shared = _sharedDependencies.Select(manifest, resolver);
            foreach (var warning in shared.Warnings)
                LogPrivateDependency(_logger, manifest.Name, warning);
            loadContext = new PluginLoadContext($"plugin:{owner}", resolver, shared.Assemblies);
            var assembly = loadContext.LoadFromBytes(manifest.EntryAssemblyPath);
            var types = Array.FindAll(assembly.GetExportedTypes(), t => t is { IsClass: true, IsAbstract: false } && typeof(IBrokerPlugin).IsAssignableFrom(t));
            if (types.Length != 1)
            {
                throw new PluginException(PluginError.StartFailed,
                    $"plugin {manifest.Name}: {manifest.EntryAssembly} must have exactly one public class implementing {nameof(IBrokerPlugin)}, found {types.Length}");
            }
            var plugin = (IBrokerPlugin)Activator.CreateInstance(types[0])!;
            var resources = _core.Open(manifest.Name, owner);
            var context = new PluginContext(manifest.Name, configuration, _core.LoggerFactory, resources,
                _core.TimeProvider, dataDirectory, _core.Services, _configuration, ReadModel, ManagementClientFactory);
            return new Instance(resources, manifest.Version, loadContext, plugin, context) { Warnings = shared.Warnings };
        }
        catch (PluginException)
        {
            loadContext?.Unload();
            throw;
        }
        catch (Exception ex)
        {
            loadContext?.Unload();
            var message = ex is System.Reflection.TargetInvocationException { InnerException: { } inner } ? inner.Message : ex.Message;
            throw new PluginException(PluginError.StartFailed, $"plugin {manifest.Name}: cannot load {manifest.EntryAssembly}: {message}");
        }
    }

    /// <summary>Stops an instance (optionally calling StopAsync), removes its hooks and timers and unloads its context.</summary>
    private async Task<WeakReference> RetireAsync(Entry entry, Instance instance, bool callStop)
    {
        // Hooks first, and their running calls finished before Stopping fires (a callback may watch it): StopAsync
        // may close what the callbacks use (a connection pool), so none may run in it after.
        await instance.Resources.UnhookAsync().ConfigureAwait(false);
        instance.SignalStopping();
        if (callStop)
        {
            using var cts = new CancellationTokenSource();
            try
            {
                await Task.Run(() => instance.StopAsync(cts.Token)).WaitAsync(_options.StopTimeout, _core.TimeProvider).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                await cts.CancelAsync().ConfigureAwait(false);
                LogStopTimeout(_logger, entry.Name, _options.StopTimeout);
            }
            catch (Exception ex)
            {
                LogStopFailed(_logger, entry.Name, $"{ex.GetType().Name}: {ex.Message}");
            }
        }
        entry.PastHooks += await instance.Resources.RemoveHooksAsync().ConfigureAwait(false);
        return instance.Unload();
    }

    private static readonly TimeSpan MaxCollectPause = TimeSpan.FromMilliseconds(250);

    /// <summary>Polls the GC until the unloaded context is gone, up to plugins.unload_timeout. Blocking full collections: only on unload.</summary>
    private async Task<bool> WaitCollectedAsync(WeakReference weak)
    {
        var clock = Stopwatch.StartNew();
        // Each round is two full blocking collections: back to back they would stall every client for as long as the
        // old instance takes to let go (a driver's timer, a pool's thread: often a second or more). So the wait between
        // rounds doubles, from 20 ms up to a quarter of a second.
        var pause = TimeSpan.FromMilliseconds(20);
        while (true)
        {
            // Not compacting: unloading needs the collection, not the moves, and the clients served meanwhile get
            // shorter pauses.
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: false);
            GC.WaitForPendingFinalizers();
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: false);
            if (!weak.IsAlive)
                return true;
            if (clock.Elapsed >= _options.UnloadTimeout)
                return false;
            // Real time on purpose: collection and finalizers run on real threads, whatever the broker's clock.
            await Task.Delay(pause).ConfigureAwait(false);
            pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, MaxCollectPause.Ticks));
        }
    }

    /// <summary>
    /// An operator's error for anything a load threw: ours carry their kind; anything else (an unreadable folder, a
    /// corrupt deps.json or DLL) is a failed start, so no plugin can take the broker down by being broken.
    /// </summary>
    private static (PluginError Error, string Message) Describe(string name, Exception ex) => ex is PluginException plugin
        ? (plugin.Error, plugin.Message)
        : (PluginError.StartFailed, $"plugin {name} cannot be loaded: {ex.GetType().Name}: {ex.Message}");

    private string LeakReason() =>
        $"still in memory {_options.UnloadTimeout.TotalSeconds:0.###}s after unload: a static, event handler, thread or timer outside its context keeps its code alive";

    private bool Exists(string name)
    {
        if (!PluginManifest.IsValidName(name))
            return false;
        if (PluginsDirectories.Any(d => Directory.Exists(Path.Combine(d, name))))
            return true;
        lock (_entries)
            return _entries.ContainsKey(name);
    }

    private PluginResult Unknown(string name) =>
        new(PluginError.UnknownPlugin, $"unknown plugin {name}: no {name}/{PluginManifest.FileName} in {string.Join(" or ", PluginsDirectories)}", null);

    private PluginResult Result(PluginError error, string message, string name) => new(error, message, Find(name));

    private Entry GetEntry(string name)
    {
        lock (_entries)
        {
            if (!_entries.TryGetValue(name, out var entry))
                _entries.Add(name, entry = new Entry(name));
            return entry;
        }
    }

    private PluginInfo Describe(string name, bool atBoot)
    {
        Entry? entry;
        lock (_entries)
            _entries.TryGetValue(name, out entry);
        string version = "", description = "", reason = "";
        try
        {
            var manifest = PluginManifest.Load(PluginFolder(name));
            version = manifest.Version;
            description = manifest.Description;
        }
        catch (PluginException ex)
        {
            reason = ex.Message;
        }
        if (entry is null)
            return new PluginInfo(name, version, description, PluginState.Stopped, reason, atBoot, default, 0);

        var leaked = entry.CountLeaks();
        var state = entry.State;
        if (state == PluginState.Leaking && leaked == 0)
            state = PluginState.Stopped;
        if (entry.Current is { } current)
            version = current.Version;
        var hooks = entry.PastHooks + (entry.Current is { } running ? running.Resources.HookTotals : default);
        if (state is PluginState.Failed or PluginState.Leaking)
            reason = entry.Reason;
        return new PluginInfo(name, version, description, state, reason, atBoot, hooks, leaked);
    }

    private sealed class Entry(string name)
    {
        public string Name { get; } = name;
        public volatile Instance? Current;
        public volatile string Reason = "";
        public PluginState State { get; set; } = PluginState.Stopped;
        /// <summary>What the hook callbacks of its stopped instances cost.</summary>
        public HookTotals PastHooks { get; set; }
        public List<WeakReference> Leaks { get; } = [];

        public int CountLeaks()
        {
            lock (Leaks)
            {
                Leaks.RemoveAll(w => !w.IsAlive);
                return Leaks.Count;
            }
        }
    }

    /// <summary>One started (or starting) plugin instance; <see cref="Unload"/> drops every reference to it.</summary>
    private sealed class Instance(PluginResources resources, string version, PluginLoadContext loadContext, IBrokerPlugin plugin, PluginContext context)
    {
        private PluginLoadContext? _loadContext = loadContext;
        private IBrokerPlugin? _plugin = plugin;
        private PluginContext? _context = context;

        /// <summary>Its share of the core; its hooks are registered under <see cref="PluginResources.Owner"/>.</summary>
        public PluginResources Resources { get; } = resources;

        public string Owner => Resources.Owner;
        public string Version { get; } = version;

        /// <summary>Said when it was loaded: packages it got private copies of because another version is shared.</summary>
        public IReadOnlyList<string> Warnings { get; init; } = [];

        public Task StartAsync(CancellationToken ct) => _plugin!.StartAsync(_context!, ct).AsTask();

        public Task StopAsync(CancellationToken ct) => _plugin?.StopAsync(ct).AsTask() ?? Task.CompletedTask;

        public void SignalStopping() => _context?.SignalStopping();

        [MethodImpl(MethodImplOptions.NoInlining)]
        public WeakReference Unload()
        {
            var loadContext = _loadContext!;
            _context?.Release();
            _context = null;
            _plugin = null;
            _loadContext = null;
            loadContext.Unload();
            return new WeakReference(loadContext, trackResurrection: false);
        }
    }
}
