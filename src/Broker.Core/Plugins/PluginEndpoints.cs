using System.Collections.Concurrent;
using Broker.Abstractions.Plugins;

namespace Broker.Core.Plugins;

/// <summary>
/// The HTTP endpoints plugins have mapped (<see cref="IPluginContext.Http"/>), by plugin name; the management API
/// serves them under <c>/api/v4/plugins/&lt;name&gt;/api/</c> through <see cref="TryMatch"/>. Registrations end when
/// disposed; the host disposes a stopping plugin's (<see cref="For"/> hands each plugin instance its own scope). A
/// reload starts the new instance before the old one stops, so both may map the same endpoint for a moment: the
/// newer answers.
/// </summary>
internal sealed class PluginEndpoints
{
    private readonly ConcurrentDictionary<string, ImmutableEndpoints> _byPlugin = new(StringComparer.Ordinal);

    /// <summary>A plugin instance's <see cref="IPluginHttp"/>; <see cref="Scope.Dispose"/> removes everything it mapped.</summary>
    public Scope For(string plugin) => new(this, plugin);

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
            _segments = Pattern.Split('/', StringSplitOptions.RemoveEmptyEntries);
            for (var i = 0; i < _segments.Length; i++)
            {
                var segment = _segments[i];
                var isParameter = segment.StartsWith('{') && segment.EndsWith('}') && segment.Length > 2;
                if ((segment.Contains('{') || segment.Contains('}')) && !isParameter)
                    throw new ArgumentException($"pattern '{pattern}': segment '{segment}' is neither literal nor {{name}}", nameof(pattern));
                if (segment.StartsWith("{**", StringComparison.Ordinal) && i != _segments.Length - 1)
                    throw new ArgumentException($"pattern '{pattern}': {{**name}} must be the last segment", nameof(pattern));
            }
        }

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
        private readonly List<Endpoint> _mapped = [];
        private bool _disposed;

        public IDisposable Map(string method, string pattern, Func<PluginHttpRequest, CancellationToken, ValueTask<PluginHttpResponse>> handler)
        {
            var endpoint = new Endpoint(this, method, pattern, handler);
            lock (_mapped)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                owner.Add(plugin, endpoint);
                _mapped.Add(endpoint);
            }
            return new Registration(this, endpoint);
        }

        private void Unmap(Endpoint endpoint)
        {
            lock (_mapped)
            {
                if (_mapped.Remove(endpoint))
                    owner.Remove(plugin, endpoint);
            }
        }

        public void Dispose()
        {
            lock (_mapped)
            {
                _disposed = true;
                foreach (var endpoint in _mapped)
                    owner.Remove(plugin, endpoint);
                _mapped.Clear();
            }
        }

        private sealed class Registration(Scope scope, Endpoint endpoint) : IDisposable
        {
            public void Dispose() => scope.Unmap(endpoint);
        }
    }
}
