from documents.models.documents import Chunk, Document
from documents.models.qa import Conversation, QaFeedback, QaRecord

__all__ = ["Chunk", "Conversation", "Document", "QaFeedback", "QaRecord"]
