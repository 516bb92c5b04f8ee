using System.Collections.Concurrent;
using Broker.Abstractions.Plugins;

namespace Broker.Core.Plugins;

/// <summary>
/// The HTTP endpoints plugins have mapped (<see cref="IPluginContext.Http"/>), by plugin name; the management API
/// serves them under <c>/api/v4/plugins/&lt;name&gt;/api/</c> through <see cref="TryMatch"/>, and those mapped at the
/// root (<see cref="IPluginHttp.MapRoot"/>) under <c>/api/v4/</c> through <see cref="TryMatchRoot"/>. Registrations end
/// when disposed; the host disposes a stopping plugin's (<see cref="For"/> hands each plugin instance its own scope). A
/// reload starts the new instance before the old one stops, so both may map the same endpoint for a moment: the
/// newer answers.
/// </summary>
/// <remarks>
/// A root pattern may not overlap (match a path in common with) a pattern the management API serves
/// (<see cref="ReserveRoot"/>, whatever the method) nor another plugin's root pattern for the same method: the API
/// keeps its paths, and which plugin answers a path never depends on load order.
/// </remarks>
public sealed class PluginEndpoints
{
    private readonly ConcurrentDictionary<string, ImmutableEndpoints> _byPlugin = new(StringComparer.Ordinal);
    private readonly Lock _rootLock = new();
    private volatile Endpoint[] _root = [];
    private volatile Lazy<string[][]> _reserved = new(() => []);

    /// <summary>
    /// The patterns below <c>/api/v4/</c> the management API serves itself (<c>clients/{clientid}</c>,
    /// <c>routes/{**topic}</c>): no root endpoint may overlap one. Read at the first <see cref="IPluginHttp.MapRoot"/>,
    /// when the API has mapped all of them.
    /// </summary>
    public void ReserveRoot(Func<IEnumerable<string>> patterns) =>
        _reserved = new(() => [.. patterns().Select(p => Endpoint.Parse(p, nameof(patterns)))]);

    /// <summary>A plugin instance's <see cref="IPluginHttp"/>; <see cref="Scope.Dispose"/> removes everything it mapped.</summary>
    internal Scope For(string plugin) => new(this, plugin);

    /// <summary>The endpoints of <paramref name="plugin"/> as <c>METHOD pattern</c>, for the plugin list.</summary>
    public IReadOnlyList<string> Describe(string plugin) =>
        _byPlugin.TryGetValue(plugin, out var endpoints) ? [.. endpoints.Items.Select(e => $"{e.Method} {e.Pattern}").Distinct()] : [];

    /// <summary>The endpoint of <paramref name="plugin"/> for <paramref name="method"/> and <paramref name="path"/>, with its route values.</summary>
    public bool TryMatch(string plugin, string method, string path,
        out Func<PluginHttpRequest, CancellationToken, ValueTask<PluginHttpResponse>>? handler, out Dictionary<string, string> values)
    {
        handler = null;
        values = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!_byPlugin.TryGetValue(plugin, out var endpoints))
            return false;
        var segments = path.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        for (var i = endpoints.Items.Length - 1; i >= 0; i--) // the newest first
        {
            var endpoint = endpoints.Items[i];
            if (string.Equals(endpoint.Method, method, StringComparison.OrdinalIgnoreCase) && endpoint.Matches(segments, values))
            {
                handler = endpoint.Handler;
                return true;
            }
            values.Clear();
        }
        return false;
    }

    /// <summary>The root endpoints of <paramref name="plugin"/> as <c>METHOD pattern</c> (the pattern below <c>/api/v4/</c>).</summary>
    public IReadOnlyList<string> DescribeRoot(string plugin) =>
        [.. _root.Where(e => e.Scope.Plugin == plugin).Select(e => $"{e.Method} {e.Pattern}").Distinct()];

    /// <summary>The root endpoint for <paramref name="method"/> and <paramref name="segments"/> (decoded path segments below <c>/api/v4/</c>).</summary>
    public bool TryMatchRoot(string method, string[] segments, out string plugin,
        out Func<PluginHttpRequest, CancellationToken, ValueTask<PluginHttpResponse>>? handler, out Dictionary<string, string> values)
    {
        var root = _root;
        values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = root.Length - 1; i >= 0; i--) // the newest first
        {
            var endpoint = root[i];
            if (string.Equals(endpoint.Method, method, StringComparison.OrdinalIgnoreCase) && endpoint.Matches(segments, values))
            {
                plugin = endpoint.Scope.Plugin;
                handler = endpoint.Handler;
                return true;
            }
            values.Clear();
        }
        plugin = "";
        handler = null;
        return false;
    }

    private void AddRoot(Endpoint endpoint)
    {
        lock (_rootLock)
        {
            foreach (var reserved in _reserved.Value)
            {
                if (Endpoint.Overlaps(endpoint.Segments, reserved))
                    throw new ArgumentException($"{endpoint.Pattern} overlaps /api/v4/{string.Join('/', reserved)}, which the management API serves", "pattern");
            }
            foreach (var other in _root)
            {
                if (other.Method != endpoint.Method || !Endpoint.Overlaps(endpoint.Segments, other.Segments))
                    continue;
                if (other.Scope.Plugin != endpoint.Scope.Plugin)
                    throw new ArgumentException($"{endpoint.Method} {endpoint.Pattern} overlaps {other.Method} /api/v4/{other.Pattern}, which plugin {other.Scope.Plugin} serves", "pattern");
                if (ReferenceEquals(other.Scope, endpoint.Scope) && other.Pattern == endpoint.Pattern)
                    throw new ArgumentException($"{endpoint.Method} {endpoint.Pattern} is mapped already", "pattern");
            }
            _root = [.. _root, endpoint];
        }
    }

    private void RemoveRoot(Endpoint endpoint)
    {
        lock (_rootLock)
            _root = [.. _root.Where(e => !ReferenceEquals(e, endpoint))];
    }

    private void Add(string plugin, Endpoint endpoint) =>
        _byPlugin.AddOrUpdate(plugin, _ => new ImmutableEndpoints([endpoint]), (_, current) =>
        {
            if (current.Items.Any(e => ReferenceEquals(e.Scope, endpoint.Scope) && e.Method == endpoint.Method && e.Pattern == endpoint.Pattern))
                throw new ArgumentException($"{endpoint.Method} {endpoint.Pattern} is mapped already");
            return new ImmutableEndpoints([.. current.Items, endpoint]);
        });

    private void Remove(string plugin, Endpoint endpoint)
    {
        while (_byPlugin.TryGetValue(plugin, out var current))
        {
            var rest = current.Items.Where(e => !ReferenceEquals(e, endpoint)).ToArray();
            if (rest.Length == current.Items.Length)
                return;
            if (rest.Length == 0 ? _byPlugin.TryRemove(new(plugin, current)) : _byPlugin.TryUpdate(plugin, new ImmutableEndpoints(rest), current))
                return;
        }
    }

    private sealed record ImmutableEndpoints(Endpoint[] Items);

    /// <summary>One mapped endpoint: its method, its pattern's segments (literal, <c>{name}</c> or a final <c>{**name}</c>) and its handler.</summary>
    private sealed class Endpoint
    {
        private readonly string[] _segments;

        public Endpoint(Scope scope, string method, string pattern, Func<PluginHttpRequest, CancellationToken, ValueTask<PluginHttpResponse>> handler)
        {
            Scope = scope;
            ArgumentException.ThrowIfNullOrWhiteSpace(method);
            ArgumentNullException.ThrowIfNull(pattern);
            ArgumentNullException.ThrowIfNull(handler);
            Method = method.ToUpperInvariant();
            Pattern = pattern.Trim('/');
            Handler = handler;
            _segments = Parse(pattern, nameof(pattern));
        }

        public string[] Segments => _segments;

        /// <summary>A pattern's segments: literal, <c>{name}</c>, or a final <c>{**name}</c>.</summary>
        public static string[] Parse(string pattern, string parameterName)
        {
            var segments = pattern.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries);
            for (var i = 0; i < segments.Length; i++)
            {
                var segment = segments[i];
                var isParameter = IsParameter(segment) && segment.Length > 2;
                if ((segment.Contains('{') || segment.Contains('}')) && !isParameter)
                    throw new ArgumentException($"pattern '{pattern}': segment '{segment}' is neither literal nor {{name}}", parameterName);
                if (IsRest(segment) && i != segments.Length - 1)
                    throw new ArgumentException($"pattern '{pattern}': {{**name}} must be the last segment", parameterName);
            }
            return segments;
        }

        /// <summary>Whether some path matches both patterns.</summary>
        public static bool Overlaps(string[] a, string[] b)
        {
            for (var i = 0; ; i++)
            {
                if (i < a.Length && IsRest(a[i]) || i < b.Length && IsRest(b[i]))
                    return true;
                if (i == a.Length || i == b.Length)
                    return a.Length == b.Length;
                if (!IsParameter(a[i]) && !IsParameter(b[i]) && !string.Equals(a[i], b[i], StringComparison.Ordinal))
                    return false;
            }
        }

        private static bool IsParameter(string segment) => segment.StartsWith('{') && segment.EndsWith('}');

        private static bool IsRest(string segment) => segment.StartsWith("{**", StringComparison.Ordinal);

        /// <summary>The plugin instance that mapped it.</summary>
        public Scope Scope { get; }

        public string Method { get; }

        public string Pattern { get; }

        public Func<PluginHttpRequest, CancellationToken, ValueTask<PluginHttpResponse>> Handler { get; }

        public bool Matches(string[] path, Dictionary<string, string> values)
        {
            for (var i = 0; i < _segments.Length; i++)
            {
                var segment = _segments[i];
                if (segment.StartsWith("{**", StringComparison.Ordinal))
                {
                    values[segment[3..^1]] = string.Join('/', path.Skip(i));
                    return true;
                }
                if (i >= path.Length)
                    return false;
                if (segment.StartsWith('{'))
                    values[segment[1..^1]] = path[i];
                else if (!string.Equals(segment, path[i], StringComparison.Ordinal))
                    return false;
            }
            return path.Length == _segments.Length;
        }
    }

    /// <summary>One plugin instance's mappings.</summary>
    internal sealed class Scope(PluginEndpoints owner, string plugin) : IPluginHttp, IDisposable
    {
        private readonly List<(Endpoint Endpoint, bool Root)> _mapped = [];
        private bool _disposed;

        /// <summary>The plugin whose instance this is.</summary>
        public string Plugin => plugin;

        public IDisposable Map(string method, string pattern, Func<PluginHttpRequest, CancellationToken, ValueTask<PluginHttpResponse>> handler) =>
            Add(new Endpoint(this, method, pattern, handler), root: false);

        public IDisposable MapRoot(string method, string pattern, Func<PluginHttpRequest, CancellationToken, ValueTask<PluginHttpResponse>> handler) =>
            Add(new Endpoint(this, method, pattern, handler), root: true);

        private Registration Add(Endpoint endpoint, bool root)
        {
            lock (_mapped)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                if (root)
                    owner.AddRoot(endpoint);
                else
                    owner.Add(plugin, endpoint);
                _mapped.Add((endpoint, root));
            }
            return new Registration(this, endpoint);
        }

        private void Unmap(Endpoint endpoint)
        {
            lock (_mapped)
            {
                var index = _mapped.FindIndex(m => ReferenceEquals(m.Endpoint, endpoint));
                if (index < 0)
                    return;
                Remove(_mapped[index]);
                _mapped.RemoveAt(index);
            }
        }

        private void Remove((Endpoint Endpoint, bool Root) mapped)
        {
            if (mapped.Root)
                owner.RemoveRoot(mapped.Endpoint);
            else
                owner.Remove(plugin, mapped.Endpoint);
        }

        public void Dispose()
        {
            lock (_mapped)
            {
                _disposed = true;
                foreach (var mapped in _mapped)
                    Remove(mapped);
                _mapped.Clear();
            }
        }

        private sealed class Registration(Scope scope, Endpoint endpoint) : IDisposable
        {
            public void Dispose() => scope.Unmap(endpoint);
        }
    }
}
