using System.Net;
using Broker.Abstractions;

namespace Broker.Core.Tests.AccessControl;

/// <summary>A directory under the system temp folder, deleted on dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "broker-acl-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

/// <summary>A clock that moves only when told to.</summary>
internal sealed class ManualTimeProvider : TimeProvider
{
    private DateTimeOffset _now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}

internal static class Clients
{
    public static ClientInfo Make(string clientId = "c1", string? username = null, string? address = null) => new()
    {
        ClientId = clientId,
        Username = username,
        RemoteEndPoint = address is null ? null : new IPEndPoint(IPAddress.Parse(address), 50000),
    };
}

internal static class Repository
{
    /// <summary>The repository root: the nearest ancestor of the test binaries that holds Broker.sln.</summary>
    public static string Root
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Broker.sln")))
                    return dir.FullName;
            }
            throw new InvalidOperationException("Broker.sln not found above " + AppContext.BaseDirectory);
        }
    }
}
