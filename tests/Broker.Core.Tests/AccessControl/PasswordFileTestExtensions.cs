using Broker.Core.AccessControl;

namespace Broker.Core.Tests.AccessControl;

/// <summary>Synchronous verification for tests, on one hashing thread shared by the test run.</summary>
internal static class PasswordFileTestExtensions
{
    public static readonly PasswordHasher Hasher = new(concurrency: 1);

    public static bool Verify(this PasswordFile file, string user, byte[] password) =>
        file.VerifyAsync(user, password, Hasher, CancellationToken.None).AsTask().GetAwaiter().GetResult();
}
