// Package wire is the toyhub message protocol: the MQTT topics, the JSON
// control messages and the binary chunk frame that toys, family devices and
// the hub exchange. Both the hub and the devices import it; it imports
// nothing of either. Everything here is pure and safe for concurrent use.
//
// # Transport
//
// MQTT 3.1.1 or 5 over TLS 1.2+ (1.3 preferred) with a client certificate
// issued by the household CA. The MQTT client ID must equal the device ID
// in that certificate. A device may publish only under its own upload
// prefix and subscribe only under its own delivery prefix (a publish
// elsewhere ends the connection at QoS 1, and is dropped without a word at
// QoS 0):
//
//	toyhub/v1/<device-id>/up/<kind>     device → hub
//	toyhub/v1/<device-id>/down/<kind>   hub → device
//
// A device subscribes to toyhub/v1/<device-id>/down/# and publishes with
// QoS 1, or QoS 0 for chunks and fetches, whose answers acknowledge them.
// Once it has subscribed, the hub publishes its [Limits] on
// down/limits; until it hears them, a device keeps to [DefaultLimits]. The hub publishes with QoS 0: every exchange below is a request
// that the device repeats if no answer arrives, so nothing depends on the
// broker keeping a queue, and a device that is offline for a week loses
// nothing because the hub's store, not the broker, holds its messages.
//
// # Identifiers
//
// Device IDs are 26 lower-case base32 characters (128 random bits) chosen
// by the hub. Message IDs are 32 lower-case hex characters (128 bits) chosen
// by the sender, so that a retried upload is recognised and never stored
// twice.
//
// # Upload
//
//  1. The sender publishes a [Header] to up/header: message ID, recipients
//     (names or device IDs; empty means every linked device), format "wav",
//     total size, SHA-256 of the whole message, and the chunk size (at most
//     [MaxChunk], and at most the hub's configured limit).
//  2. The hub answers on down/ack with an [Ack] for op "header": "accepted"
//     with Next, the sequence number of the first chunk it does not yet
//     hold (0 for a new message, more when resuming); "committed" if the
//     message is already stored; or "rejected" with an [Error].
//  3. The sender publishes chunks to up/chunk as binary [Chunk] frames,
//     in order, starting at Next. It may have several chunks in flight.
//     Chunk n carries bytes [n*chunk, min((n+1)*chunk, size)). For a new
//     message (an ID never sent before) the first window of chunks may
//     follow the header at once, before its answer: the hub handles a
//     device's requests in order. A resumed upload waits for Next.
//  4. The hub acknowledges each chunk on down/ack ("stored", with Next)
//     only after it is durably written. The WAV header is checked when
//     chunk 0 arrives ("not_wav", "too_long"), the size and SHA-256 when
//     the last one does ("hash_mismatch"); the last chunk's answer is
//     "committed" (it is stored, and the message with it), never "stored". A chunk the hub already holds is
//     acknowledged again without being stored twice. A chunk out of order
//     is "rejected" with code "out_of_order" and Next says where to resume.
//     A header with Batch set (to a hub whose [Limits] say Batch) asks for
//     one "stored" per commit: it names the last chunk of the upload made
//     durable in that commit, and its Next covers every chunk before it.
//
// After a disconnect the sender publishes the same header again and
// continues from Next. A sender that gives up on an upload publishes a
// [Cancel] to up/cancel; the hub drops its chunks and answers "cancelled"
// (a committed message is not touched). A sender holds at most 8
// unfinished uploads: a header for a ninth takes the place of the one
// untouched the longest, whose chunks are then "unknown".
//
// Every answer about an upload, to its header or to a chunk, carries
// Attempt: the number the hub gave the header it accepted last (a new
// number for every header it accepts, resumed or not). Within an attempt
// the hub answers chunks in their order, and a rejection that ends the
// attempt comes after the answers to every chunk before it. A sender keeps
// the Attempt of the answer to its latest header and ignores any answer
// about the upload that names another attempt, except "committed" (the
// message is stored, whichever attempt finished it); an answer with no
// Attempt (0) is about no upload the hub knows ("unknown": send the
// header again).
//
// # Delivery
//
//  1. When a message for a device is committed, and whenever the device
//     publishes to up/sync, the hub publishes a [Notify] on down/notify for
//     every message waiting for it. After a sync the hub also publishes
//     pending [Status] updates for the device's own sent messages, then an
//     [Ack] for op "sync" with status "done".
//  2. The recipient pulls the bytes at its own pace: it publishes a [Fetch]
//     (message ID and offset) to up/fetch and receives one [Chunk] frame on
//     down/data holding the bytes from that offset to the end of the stored
//     chunk that contains it. It may have several fetches in flight. To a
//     hub whose [Limits] say Batch, one fetch with Count (at most the fetch
//     window) asks for that many pieces in a row, each its own frame.
//  3. The recipient verifies the SHA-256 and publishes a [Played] to
//     up/played once the message has played. The hub records the delivery
//     as played and answers with an [Ack] ("played"). A played message is
//     not notified again. A fetch before offset 0 is "bad_request"; at or
//     past the end of a message the device may read, "beyond_size" (it has
//     every byte).
//  4. The sender hears of each recipient in a [Status] on down/status:
//     "delivered" once the recipient has fetched the last byte, "played"
//     once it published Played. The hub publishes a Status at once if the
//     sender is connected and again at every sync of the sender, until the
//     sender publishes a [Heard] to up/heard naming it (or for 30 days).
//     Hearing "played" covers "delivered". Only a refused Heard is answered.
//  5. During the recipient's quiet hours its messages are held at the
//     recipient's side only: the upload is committed as usual, a sync
//     offers none of them, none is notified, and a fetch is answered
//     "quiet"; when the quiet hours end the hub notifies each of them.
//
// # Certificate renewal
//
// Device certificates are short-lived. After two thirds of its
// certificate's life a connected device publishes a [Renew] with a CSR for
// its current key to up/renew; the hub answers with a [Certificate] on
// down/cert (or an [Ack] for op "renew" with an error). A revoked device
// cannot connect, so it cannot renew; a device whose certificate has
// expired must enroll again.
//
// # Enrollment
//
// A device without a certificate enrolls over a separate TLS 1.3 endpoint
// whose port the hub advertises by mDNS (TXT "enroll"). It sends one
// [EnrollRequest] as a line of JSON and reads one [EnrollResponse].
//
// Pairing a toy: the toy does not know the hub's CA yet, so it accepts any
// server certificate, and both sides prove knowledge of the code on the
// toy's label ([PairingCode]) over this very TLS connection. Both HMACs
// cover the TLS exporter value for [ExporterLabel] (RFC 9266), which
// differs on each leg of a man in the middle, so proofs cannot be relayed;
// the code has 130 bits, so they cannot be brute-forced either. The toy's
// proof ([ToyProof]) also covers the hash of its CSR; the hub's
// ([HubProof]) covers the hash of its CA certificate, which the toy then
// pins, checking that the server certificate chains to it.
//
// Joining with an [Invite]: the device pins the CA public key from the
// invite, so the secret only ever travels to the real hub, and sends the
// secret with its CSR.
//
// # Discovery
//
// The hub advertises _toyhub._tcp (and _secure-mqtt._tcp) by mDNS on the
// MQTT port, with TXT records txtvers=1, proto (this protocol's version),
// enroll (the enrollment port) and ca (the first 16 hex digits of the
// SHA-256 of the CA's public key). They never carry names.
//
// # Chunk frame
//
// Used for upload chunks (up/chunk) and delivered data (down/data). All
// integers are big-endian.
//
//	offset size field
//	0      1    version, always 1
//	1      1    flags, always 0 (reserved)
//	2      16   message ID (the 128 bits of the hex ID)
//	18     4    sequence number of the stored chunk
//	22     4    byte offset of Data within the message
//	26     n    data, 1 ≤ n ≤ MaxChunk
//
// # Audio
//
// The only format is WAV: RIFF/WAVE, PCM (format 1), 16-bit, mono, 8,000 to
// 48,000 samples per second, with the "fmt " and "data" chunk headers in
// the first upload chunk. The hub checks the header, that the data chunk
// fits the declared size, and the duration against its limit.
//
// # Errors
//
// A refusal is an [Ack] with status "rejected" and an [Error] whose Code is
// one of the Code* constants and whose Message is a sentence for people.
package wire
